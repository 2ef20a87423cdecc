"""Shared logic of APIs that store single records with ids (Cloudflare, Hetzner, DigitalOcean).

An rrset change becomes: delete the records whose value goes, create the ones that come.
"""

from __future__ import annotations

from typing import Any

from secumail.dns.providers.base import Change, DnsProvider, value_changes
from secumail.dns.records import RRset, check_name, normalize


class RecordApiProvider(DnsProvider):
    def __init__(self, dns: Any, credentials: Any) -> None:
        super().__init__(dns, credentials)
        self._ids: dict[tuple[str, str, str], list[str]] = {}

    # subclass: (id, absolute name, type, ttl, presentation value) of every record in the zone
    def _records(self, zone: str) -> list[tuple[str, str, str, int, str]]:
        raise NotImplementedError

    def _create(self, zone: str, name: str, rtype: str, ttl: int, value: str) -> None:
        raise NotImplementedError

    def _delete(self, zone: str, record_id: str) -> None:
        raise NotImplementedError

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        grouped: dict[tuple[str, str], tuple[int, list[str]]] = {}
        for rid, owner, rtype, ttl, value in self._records(zone):
            owner = check_name(owner)
            if name is not None and owner != name:
                continue
            value = normalize(rtype, value)
            self._ids.setdefault((owner, rtype, value), []).append(rid)
            grouped.setdefault((owner, rtype), (ttl, []))[1].append(value)
        return [RRset.make(n, t, ttl, values) for (n, t), (ttl, values) in grouped.items()]

    def apply(self, zone: str, changes: list[Change]) -> None:
        for change in changes:
            name, rtype = change.key
            gone, come = value_changes(change)
            for value in gone:
                for rid in self._ids.pop((name, rtype, value), []):
                    self.requests += 1
                    self._delete(zone, rid)
            for value in come:
                self.requests += 1
                self._create(zone, name, rtype, change.ttl, value)
