"""PowerDNS Authoritative HTTP API (/api/v1): all changes to a zone in one PATCH.

Server: mailserver.dns.server (e.g. http://127.0.0.1:8081); credentials: api_key,
optional server_id (default "localhost").
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from secumail.dns.providers.base import Change, DnsProvider
from secumail.dns.providers.http import HttpClient, check_api_url
from secumail.dns.records import RRset
from secumail.errors import InputError


class Provider(DnsProvider):
    name = "powerdns"
    credential_keys = {"api_key": "PowerDNS API key (X-API-Key)"}

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        url = self.credentials.get("api_url") or dns.server
        if not url.startswith(("http://", "https://")):
            raise InputError("powerdns: set mailserver.dns.server to the API URL (http://127.0.0.1:8081)")
        where = f"api_url in {dns.credentials}" if self.credentials.get("api_url") else "mailserver.dns.server"
        check_api_url(url, f"DNS provider powerdns: {where}")
        server_id = self.credentials.get("server_id", "localhost")
        self.http = HttpClient(
            self.name,
            f"{url.rstrip('/')}/api/v1/servers/{server_id}",
            {"X-API-Key": self.credentials["api_key"]},
            self.timeout,
        )

    def zones(self) -> list[str]:
        return [z["name"].rstrip(".") for z in self.http.request("GET", "/zones") or []]

    def _zone_path(self, zone: str) -> str:
        return "/zones/" + urllib.parse.quote(zone + ".")

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        data = self.http.request("GET", self._zone_path(zone)) or {}
        out = []
        for rrset in data.get("rrsets", []):
            owner = rrset["name"].rstrip(".").lower()
            if name is not None and owner != name:
                continue
            values = [r["content"] for r in rrset.get("records", []) if not r.get("disabled")]
            if values:
                out.append(RRset.make(owner, rrset["type"], rrset["ttl"], values))
        return out

    def apply(self, zone: str, changes: list[Change]) -> None:
        if not changes:
            return
        body = []
        for change in changes:
            name, rtype = change.key
            if change.new is None:
                body.append({"name": name + ".", "type": rtype, "changetype": "DELETE"})
            else:
                body.append(
                    {
                        "name": name + ".",
                        "type": rtype,
                        "ttl": change.new.ttl,
                        "changetype": "REPLACE",
                        "records": [{"content": v, "disabled": False} for v in change.new.values],
                    }
                )
        self.requests += 1
        self.http.request("PATCH", self._zone_path(zone), {"rrsets": body})

    def replace_rrset(self, zone: str, rrset: RRset) -> None:
        self.apply(zone, [Change("update", None, rrset)])

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        self.apply(zone, [Change("delete", RRset(name, rtype, 0), None)])

    def describe(self) -> str:
        return f"powerdns ({self.http.base_url})"
