"""Plain DNS queries with dnspython against explicit servers (never the system resolver)."""

from __future__ import annotations

import ipaddress
from typing import Any

from secumail.dns.records import RRset, normalize
from secumail.errors import InputError, ProviderError


def parse_server(spec: str, default_port: int = 53) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '[2001:db8::1]:53' or '2001:db8::1' → (address, port)."""
    spec = spec.strip()
    host, port = spec, default_port
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], spec)
    elif spec.count(":") == 1:
        host, _, text = spec.partition(":")
        port = _port(text, spec)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InputError(f"DNS server {spec!r} must be an IP address (optionally with :port)") from None
    return host, port


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"DNS server {spec!r}: bad port {text!r}")
    return int(text)


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
        raise ProviderError(f"DNS server {server[0]}:{server[1]} did not answer within {timeout:.0f} s") from None
    except (OSError, dns.exception.DNSException) as exc:
        raise ProviderError(f"DNS query to {server[0]}:{server[1]} failed: {exc}") from None
    rcode = dns.rcode.to_text(response.rcode())
    wanted = dns.rdatatype.from_text(rtype)
    for rrset in response.answer:
        if rrset.rdtype == wanted and rrset.name.to_text().rstrip(".").lower() == name:
            values = [normalize(rtype, rd.to_text()) for rd in rrset]
            return rcode, RRset.make(name, rtype, rrset.ttl, values), response
    return rcode, None, response


def find_soa_zone(server: tuple[str, int], name: str, timeout: float) -> tuple[str, str]:
    """(zone, primary MNAME) of `name` by asking `server` for SOA at each ancestor, longest first."""
    labels = name.split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        rcode, rr, _ = query(server, candidate, "SOA", timeout, recursion=True)
        if rr is not None:
            return candidate, rr.values[0].split(" ")[0].rstrip(".")
    raise ProviderError(f"no SOA for {name} or its parents at {server[0]}:{server[1]}: set mailserver.dns.zone")


def resolve_address(servers: list[tuple[str, int]], name: str, timeout: float) -> str:
    """The first A (then AAAA) of `name` via the given resolvers."""
    for rtype in ("A", "AAAA"):
        for server in servers:
            try:
                _, rr, _ = query(server, name, rtype, timeout, recursion=True)
            except ProviderError:
                continue
            if rr is not None:
                return rr.values[0]
    raise ProviderError(f"cannot resolve {name} through {', '.join(f'{h}:{p}' for h, p in servers)}")
