"""Hetzner DNS API (dns.hetzner.com/api/v1, Auth-API-Token). Credentials: api_token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from secumail.dns.providers.http import HttpProvider
from secumail.dns.providers.recordapi import RecordApiProvider
from secumail.dns.records import absolute, relative
from secumail.errors import ProviderError


class Provider(RecordApiProvider, HttpProvider):
    name = "hetzner"
    credential_keys = {"api_token": "Hetzner DNS API token"}
    api = "https://dns.hetzner.com/api/v1"

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        self._zone_ids: dict[str, str] = {}

    def auth_headers(self) -> dict[str, str]:
        return {"Auth-API-Token": self.credentials["api_token"]}

    def zones(self) -> list[str]:
        data = self.http.request("GET", "/zones", query={"per_page": 100}) or {}
        self._zone_ids.update({z["name"]: z["id"] for z in data.get("zones", [])})
        return list(self._zone_ids)

    def _zid(self, zone: str) -> str:
        if zone not in self._zone_ids:
            self.zones()
        if zone not in self._zone_ids:
            raise ProviderError(f"hetzner: this token cannot see the zone {zone}")
        return self._zone_ids[zone]

    def _records(self, zone: str) -> list[tuple[str, str, str, int, str]]:
        data = self.http.request("GET", "/records", query={"zone_id": self._zid(zone)}) or {}
        default_ttl = 3600
        return [
            (r["id"], absolute(r["name"], zone), r["type"], int(r.get("ttl") or default_ttl), r["value"])
            for r in data.get("records", [])
        ]

    def _create(self, zone: str, name: str, rtype: str, ttl: int, value: str) -> None:
        self.http.request(
            "POST",
            "/records",
            {"zone_id": self._zid(zone), "type": rtype, "name": relative(name, zone, "@"), "value": value, "ttl": ttl},
        )

    def _delete(self, zone: str, record_id: str) -> None:
        self.http.request("DELETE", f"/records/{record_id}", ok_missing=True)
