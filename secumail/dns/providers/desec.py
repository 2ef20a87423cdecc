"""deSEC (desec.io/api/v1, Token auth): all changes to a zone in one bulk PATCH. Credentials: token.

deSEC's minimum TTL is 3600 s on most accounts; a lower mailserver.dns.ttl is refused by the API.
"""

from __future__ import annotations

from secumail.dns.providers.base import Change
from secumail.dns.providers.http import HttpProvider
from secumail.dns.records import RRset, absolute, relative


class Provider(HttpProvider):
    name = "desec"
    credential_keys = {"token": "deSEC API token"}
    api = "https://desec.io/api/v1"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.credentials['token']}"}

    def zones(self) -> list[str]:
        return [d["name"] for d in self.http.request("GET", "/domains/") or []]

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        query = {"subname": relative(name, zone)} if name is not None else None
        out = []
        for r in self.http.request("GET", f"/domains/{zone}/rrsets/", query=query) or []:
            owner = absolute(r["subname"], zone)
            if name is None or owner == name:
                out.append(RRset.make(owner, r["type"], r["ttl"], r["records"]))
        return out

    def apply(self, zone: str, changes: list[Change]) -> None:
        if not changes:
            return
        body = []
        for change in changes:
            name, rtype = change.key
            new = change.new
            body.append(
                {
                    "subname": relative(name, zone),
                    "type": rtype,
                    "ttl": change.ttl,
                    "records": list(new.values) if new else [],
                }
            )
        self.requests += 1
        self.http.request("PATCH", f"/domains/{zone}/rrsets/", body)

    def replace_rrset(self, zone: str, rrset: RRset) -> None:
        self.apply(zone, [Change("update", None, rrset)])

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        self.apply(zone, [Change("delete", RRset(name, rtype, 3600), None)])
