"""DigitalOcean Domains API (api.digitalocean.com/v2, Bearer token). Credentials: token. No TLSA."""

from __future__ import annotations

from typing import Any

from secumail.dns.providers.http import HttpProvider
from secumail.dns.providers.recordapi import RecordApiProvider
from secumail.dns.records import absolute, relative, txt_text


class Provider(RecordApiProvider, HttpProvider):
    name = "digitalocean"
    credential_keys = {"token": "DigitalOcean API token (write scope)"}
    unsupported_types = frozenset({"TLSA"})
    api = "https://api.digitalocean.com/v2"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['token']}"}

    def zones(self) -> list[str]:
        data = self.http.request("GET", "/domains", query={"per_page": 200}) or {}
        return [d["name"] for d in data.get("domains", [])]

    def _records(self, zone: str) -> list[tuple[str, str, str, int, str]]:
        out = []
        page = 1
        while True:
            data = self.http.request("GET", f"/domains/{zone}/records", query={"per_page": 200, "page": page}) or {}
            for r in data.get("domain_records", []):
                rtype, d = r["type"], r.get("data", "")
                target = d if d in ("@", ".") or d.endswith(".") else f"{d}."
                if rtype == "MX":
                    value = f"{r['priority']} {target}"
                elif rtype == "SRV":
                    value = f"{r['priority']} {r['weight']} {r['port']} {target}"
                elif rtype == "CAA":
                    value = f'{r.get("flags", 0)} {r["tag"]} "{d}"'
                elif rtype == "CNAME":
                    value = target
                else:
                    value = d
                out.append((str(r["id"]), absolute(r["name"], zone), rtype, int(r.get("ttl") or 1800), value))
            if not ((data.get("links") or {}).get("pages") or {}).get("next"):
                return out
            page += 1

    def _create(self, zone: str, name: str, rtype: str, ttl: int, value: str) -> None:
        body: dict[str, Any] = {"type": rtype, "name": relative(name, zone, "@"), "ttl": ttl}
        parts = value.split(" ")
        if rtype == "MX":
            body.update(priority=int(parts[0]), data=parts[1])
        elif rtype == "SRV":
            body.update(priority=int(parts[0]), weight=int(parts[1]), port=int(parts[2]), data=parts[3])
        elif rtype == "CAA":
            body.update(flags=int(parts[0]), tag=parts[1], data=" ".join(parts[2:]).strip('"'))
        elif rtype == "TXT":
            body["data"] = txt_text(value)
        else:
            body["data"] = value
        self.http.request("POST", f"/domains/{zone}/records", body)

    def _delete(self, zone: str, record_id: str) -> None:
        self.http.request("DELETE", f"/domains/{zone}/records/{record_id}", ok_missing=True)
