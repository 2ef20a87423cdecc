"""Gandi LiveDNS v5 (api.gandi.net/v5/livedns, Bearer personal access token). Credentials: token."""

from __future__ import annotations

import urllib.parse

from secumail.dns.providers.http import HttpProvider
from secumail.dns.records import RRset, absolute, relative


class Provider(HttpProvider):
    name = "gandi"
    credential_keys = {"token": "Gandi personal access token (LiveDNS)"}
    api = "https://api.gandi.net/v5/livedns"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['token']}"}

    def zones(self) -> list[str]:
        return [d["fqdn"] for d in self.http.request("GET", "/domains") or []]

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        path = f"/domains/{zone}/records"
        if name is not None:
            path += "/" + _owner(name, zone)
        out = []
        for r in self.http.request("GET", path, ok_missing=True) or []:
            out.append(RRset.make(absolute(r["rrset_name"], zone), r["rrset_type"], r["rrset_ttl"], r["rrset_values"]))
        return out

    def _path(self, zone: str, name: str, rtype: str) -> str:
        return f"/domains/{zone}/records/{_owner(name, zone)}/{rtype}"

    def replace_rrset(self, zone: str, rrset: RRset) -> None:
        self.requests += 1
        self.http.request(
            "PUT",
            self._path(zone, rrset.name, rrset.type),
            {"rrset_values": list(rrset.values), "rrset_ttl": rrset.ttl},
        )

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        self.requests += 1
        self.http.request("DELETE", self._path(zone, name, rtype), ok_missing=True)


def _owner(name: str, zone: str) -> str:
    """The owner as a URL path segment ("@" for the apex)."""
    return urllib.parse.quote(relative(name, zone, "@"), safe="@")
