"""Is the challenge TXT visible on every authoritative server of its zone? (worker side, dnspython)

Asks the servers directly (no recursion, no cache, explicit addresses, never
the system resolver library), polling briefly until all of them answer with
the value or the deadline passes.
"""

from __future__ import annotations

import logging
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype

from secumail.errors import SecumailError

logger = logging.getLogger(__name__)

Server = tuple[str, int]


def resolv_conf_servers(path: str = "/etc/resolv.conf") -> list[Server]:
    servers = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append((parts[1].split("%")[0], 53))
    except OSError:
        pass
    return servers


def _ask(server: Server, qname: dns.name.Name, rdtype: int, timeout: float, recurse: bool) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype)
    if not recurse:
        query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, server[0], port=server[1], timeout=timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server[0], port=server[1], timeout=timeout)
    return response


def _ask_any(servers: list[Server], qname, rdtype, timeout: float) -> dns.message.Message:
    last: Exception | None = None
    for server in servers:
        try:
            return _ask(server, qname, rdtype, timeout, recurse=True)
        except (dns.exception.DNSException, OSError) as exc:
            last = exc
    raise SecumailError(f"no DNS server answered for {qname} ({last}); set mailserver.dns.server")


def find_zone(name: str, start: list[Server], timeout: float = 3.0) -> dns.name.Name:
    """The closest enclosing zone (the first name upwards with an SOA of its own), asking the `start` servers."""
    qname = dns.name.from_text(name)
    while True:
        response = _ask_any(start, qname, dns.rdatatype.SOA, timeout)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA and rrset.name == qname:
                return qname
        if qname == dns.name.root:
            raise SecumailError(f"no zone found above {name}")
        qname = qname.parent()


def authoritative_servers(
    zone: dns.name.Name, start: list[Server], port: int = 53, timeout: float = 3.0
) -> list[Server]:
    """Addresses of the zone's NS set (from glue or by asking the `start` servers); `start` if none resolve."""
    response = _ask_any(start, zone, dns.rdatatype.NS, timeout)
    hosts = [rdata.target for rrset in response.answer if rrset.rdtype == dns.rdatatype.NS for rdata in rrset]
    glue = {
        rrset.name: [r.address for r in rrset]
        for rrset in response.additional
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
    }
    servers: list[Server] = []
    for host in hosts:
        addresses = glue.get(host)
        if not addresses:
            addresses = []
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                try:
                    answer = _ask_any(start, host, rdtype, timeout)
                except SecumailError:
                    continue
                addresses += [r.address for rrset in answer.answer if rrset.rdtype == rdtype for r in rrset]
        servers += [(address, port) for address in addresses if (address, port) not in servers]
    return servers or list(start)


def wait_for_txt(records: list[tuple[str, str]], servers: list[Server], timeout: float = 120.0) -> float:
    """Poll until every server answers every (name, value); return the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout
    pending = {(server, name, value) for server in servers for name, value in records}
    delay = 0.02
    last_error = ""
    while pending:
        for server, name, value in sorted(pending):
            try:
                response = _ask(server, dns.name.from_text(name), dns.rdatatype.TXT, min(2.0, timeout), False)
            except (dns.exception.DNSException, OSError) as exc:
                last_error = f"{server[0]}: {exc}"
                continue
            seen = {
                b"".join(r.strings).decode()
                for rrset in response.answer
                if rrset.rdtype == dns.rdatatype.TXT
                for r in rrset
            }
            if value in seen:
                pending.discard((server, name, value))
        if not pending:
            break
        if time.monotonic() >= deadline:
            server, name, _ = sorted(pending)[0]
            extra = f" (last error {last_error})" if last_error else ""
            raise SecumailError(
                f"the challenge TXT {name} did not appear on the authoritative server {server[0]} "
                f"within {timeout:.0f} s{extra}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return time.monotonic() - start
