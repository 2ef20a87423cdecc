"""manual: print the zone-file lines for the user to paste; read back through DNS.

`mailctl dns-setup` shows the lines that are missing or wrong (full rrsets, so
a line replaces what is there); `mailctl dns-check` then confirms them. Current
records are read from the authoritative servers (mailserver.dns.server, or the
NS found through mailserver.dns.resolver); without either, everything is shown.
"""

from __future__ import annotations

from typing import Any

from secumail.dns.providers.base import Change
from secumail.dns.providers.exec import Provider as _ExecLike
from secumail.dns.records import RRset
from secumail.errors import ProviderError


class Provider(_ExecLike):
    name = "manual"
    needs_credentials = False
    prints_only = True

    def __init__(self, dns: Any, credentials: Any) -> None:  # no script to check
        self.dns = dns
        self.credentials = {}
        self.timeout = float(dns.timeout)
        self.requests = 0
        self.can_list = False

    def find_zone(self, name: str) -> str:
        if self.dns.zone or self.dns.resolver:
            return super().find_zone(name)
        return name  # nothing to ask: every name is its own "zone" for the printout

    def read(self, zone: str, keys: Any) -> dict[tuple[str, str], RRset]:
        if not (self.dns.server or self.dns.resolver):
            return {}
        return super().read(zone, keys)

    def apply(self, zone: str, changes: list[Change]) -> None:
        raise ProviderError("manual DNS provider: add the printed records yourself, then run mailctl dns-check")

    def check_credentials(self, domain: str) -> dict[str, Any]:
        return {"provider": self.name, "zone": self.find_zone(domain), "checked": "nothing: no credentials are used"}

    def describe(self) -> str:
        return "manual (you add the records)"
