"""Cloudflare API v4 (Bearer API token with Zone.DNS edit). Credentials: api_token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from secumail.dns.providers.http import HttpProvider
from secumail.dns.providers.recordapi import RecordApiProvider
from secumail.errors import ProviderError


class Provider(RecordApiProvider, HttpProvider):
    name = "cloudflare"
    credential_keys = {"api_token": "Cloudflare API token (Zone.DNS edit)"}
    api = "https://api.cloudflare.com/client/v4"

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        self._zone_ids: dict[str, str] = {}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['api_token']}"}

    def _get_all(self, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        out, page = [], 1
        while True:
            data = self.http.request("GET", path, query={**query, "page": page, "per_page": 100}) or {}
            if not data.get("success", False):
                raise ProviderError(f"cloudflare: GET {path} failed: {data.get('errors')}")
            out.extend(data.get("result") or [])
            info = data.get("result_info") or {}
            if page >= int(info.get("total_pages") or 1):
                return out
            page += 1

    def zones(self) -> list[str]:
        zones = self._get_all("/zones", {})
        self._zone_ids.update({z["name"]: z["id"] for z in zones})
        return list(self._zone_ids)

    def _zid(self, zone: str) -> str:
        if zone not in self._zone_ids:
            self.zones()
        if zone not in self._zone_ids:
            raise ProviderError(f"cloudflare: this token cannot see the zone {zone}")
        return self._zone_ids[zone]

    def _records(self, zone: str) -> list[tuple[str, str, str, int, str]]:
        out = []
        for r in self._get_all(f"/zones/{self._zid(zone)}/dns_records", {}):
            rtype, data = r["type"], r.get("data") or {}
            if rtype == "MX":
                value = f"{r.get('priority', 0)} {r['content']}"
            elif rtype == "SRV":
                value = f"{data['priority']} {data['weight']} {data['port']} {data['target']}"
            elif rtype == "CAA":
                value = f'{data["flags"]} {data["tag"]} "{data["value"]}"'
            elif rtype == "TLSA":
                value = f"{data['usage']} {data['selector']} {data['matching_type']} {data['certificate']}"
            else:
                value = r["content"]
            out.append((r["id"], r["name"], rtype, int(r.get("ttl", 1)), value))
        return out

    def _create(self, zone: str, name: str, rtype: str, ttl: int, value: str) -> None:
        body: dict[str, Any] = {"type": rtype, "name": name, "ttl": ttl}
        parts = value.split(" ")
        if rtype == "MX":
            body.update(priority=int(parts[0]), content=parts[1].rstrip("."))
        elif rtype == "SRV":
            body["data"] = {
                "priority": int(parts[0]),
                "weight": int(parts[1]),
                "port": int(parts[2]),
                "target": parts[3].rstrip(".") or ".",
            }
        elif rtype == "CAA":
            body["data"] = {"flags": int(parts[0]), "tag": parts[1], "value": " ".join(parts[2:]).strip('"')}
        elif rtype == "TLSA":
            body["data"] = {
                "usage": int(parts[0]),
                "selector": int(parts[1]),
                "matching_type": int(parts[2]),
                "certificate": parts[3],
            }
        elif rtype == "CNAME":
            body["content"] = value.rstrip(".")
        else:
            body["content"] = value
        data = self.http.request("POST", f"/zones/{self._zid(zone)}/dns_records", body) or {}
        if not data.get("success", False):
            raise ProviderError(f"cloudflare: creating {name} {rtype} failed: {data.get('errors')}")

    def _delete(self, zone: str, record_id: str) -> None:
        self.http.request("DELETE", f"/zones/{self._zid(zone)}/dns_records/{record_id}", ok_missing=True)
