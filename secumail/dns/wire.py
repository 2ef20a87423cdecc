"""Plain DNS queries with dnspython against explicit servers (never the system resolver)."""

from __future__ import annotations

import time
from typing import Any

from secumail.config.validate import split_server
from secumail.dns.records import RRset, normalize
from secumail.errors import InputError, ProviderError


def parse_server(spec: str, default_port: int = 53) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '[2001:db8::1]:53' or '2001:db8::1' → (address, port)."""
    try:
        return split_server(spec, default_port)
    except ValueError as exc:
        raise InputError(f"DNS server {spec.strip()!r} {exc}") from None


def query(
    server: tuple[str, int], name: str, rtype: str, timeout: float, recursion: bool = False
) -> tuple[str, RRset | None, Any]:
    """(rcode text, the rrset found or None, the response). Raises ProviderError on timeout/network errors."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    request = dns.message.make_query(name + ".", rtype, use_edns=0, payload=1232)
    if not recursion:
        request.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(request, server[0], port=server[1], timeout=timeout)
    except dns.exception.Timeout:
        raise NoAnswer(f"DNS server {server[0]}:{server[1]} did not answer within {timeout:.0f} s") from None
    except (OSError, dns.exception.DNSException) as exc:
        raise ProviderError(f"DNS query to {server[0]}:{server[1]} failed: {exc}") from None
    rcode = dns.rcode.to_text(response.rcode())
    wanted = dns.rdatatype.from_text(rtype)
    for rrset in response.answer:
        if rrset.rdtype == wanted and rrset.name.to_text().rstrip(".").lower() == name:
            values = [normalize(rtype, rd.to_text()) for rd in rrset]
            return rcode, RRset.make(name, rtype, rrset.ttl, values), response
    return rcode, None, response


class NoAnswer(ProviderError):
    """A DNS server let a query time out."""


class Asker:
    """DNS queries under one total deadline: a server that let one query time out is not asked again.

    Without it, each of the dozens of queries of a dns-check waits the full timeout for
    the same silent server (minutes in all); with it, a silent server costs one timeout.
    """

    def __init__(self, timeout: float, *, total: float | None = None) -> None:
        self.timeout = timeout
        self.total = total
        self.deadline = None if total is None else time.monotonic() + total
        self.silent: dict[tuple[str, int], str] = {}

    def query(
        self, server: tuple[str, int], name: str, rtype: str, recursion: bool = False
    ) -> tuple[str, RRset | None, Any]:
        if server in self.silent:
            raise NoAnswer(self.silent[server])
        wait = self.timeout
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                raise ProviderError(f"DNS: gave up, the {self.total:.0f} s allowed for all queries are spent")
        try:
            return query(server, name, rtype, wait, recursion=recursion)
        except NoAnswer as exc:
            self.silent[server] = str(exc)
            raise

    def find_soa_zone(self, server: tuple[str, int], name: str) -> tuple[str, str]:
        """(zone, primary MNAME) of `name` by asking `server` for SOA at each ancestor, longest first."""
        labels = name.split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            _, rr, _ = self.query(server, candidate, "SOA", recursion=True)
            if rr is not None:
                return candidate, rr.values[0].split(" ")[0].rstrip(".")
        raise ProviderError(f"no SOA for {name} or its parents at {server[0]}:{server[1]}: set mailserver.dns.zone")

    def resolve_address(self, servers: list[tuple[str, int]], name: str) -> str:
        """The first A (then AAAA) of `name` via the given resolvers."""
        for rtype in ("A", "AAAA"):
            for server in servers:
                try:
                    _, rr, _ = self.query(server, name, rtype, recursion=True)
                except ProviderError:
                    continue
                if rr is not None:
                    return rr.values[0]
        raise ProviderError(f"cannot resolve {name} through {', '.join(f'{h}:{p}' for h, p in servers)}")


def find_soa_zone(server: tuple[str, int], name: str, timeout: float) -> tuple[str, str]:
    """(zone, primary MNAME) of `name` by asking `server` for SOA at each ancestor, longest first."""
    return Asker(timeout).find_soa_zone(server, name)


def resolve_address(servers: list[tuple[str, int]], name: str, timeout: float) -> str:
    """The first A (then AAAA) of `name` via the given resolvers."""
    return Asker(timeout).resolve_address(servers, name)
