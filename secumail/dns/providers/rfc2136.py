"""RFC 2136 dynamic updates with TSIG (hmac-sha256 by default), via dnspython.

All changes to one zone go in ONE UPDATE message. Each change carries a
prerequisite (RFC 2136 2.4): a created rrset must not exist, an updated or
deleted one must still hold exactly the values we read. If someone changed
the zone in between, the server refuses the whole message (NXRRSET/YXRRSET)
and nothing is applied; re-running plans again from fresh data.

Credentials: key_name, key_secret (base64), optional key_algorithm.
The primary is mailserver.dns.server, else the zone's SOA MNAME found through
mailserver.dns.resolver.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from secumail.dns import wire
from secumail.dns.providers.base import Change, DnsProvider
from secumail.dns.records import RRset, check_name, in_zone
from secumail.errors import InputError, ProviderError

logger = logging.getLogger(__name__)

# Types we look for when listing one name (a name query cannot ask for "all types" reliably: RFC 8482).
LIST_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "TLSA", "NS")
ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


class Provider(DnsProvider):
    name = "rfc2136"
    credential_keys = {"key_name": "TSIG key name", "key_secret": "TSIG secret, base64"}

    def __init__(self, dns: Any, credentials: Mapping[str, str]) -> None:
        super().__init__(dns, credentials)
        algorithm = self.credentials.get("key_algorithm", "hmac-sha256").lower()
        if algorithm not in ALGORITHMS:
            raise InputError(f"rfc2136: TSIG algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        self.algorithm = algorithm
        self._server: tuple[str, int] | None = None
        self._zones: dict[str, str] = {}

    # --- where to send ----------------------------------------------------------------------------

    def _resolvers(self) -> list[tuple[str, int]]:
        return [wire.parse_server(s) for s in getattr(self.dns, "resolver", ())]

    def server(self, name: str | None = None) -> tuple[str, int]:
        if self._server is None:
            if self.dns.server:
                self._server = wire.parse_server(self.dns.server)
            else:
                resolvers = self._resolvers()
                if not resolvers or name is None:
                    raise InputError("rfc2136: set mailserver.dns.server (the primary) or mailserver.dns.resolver")
                _, mname = wire.find_soa_zone(resolvers[0], name, self.timeout)
                self._server = (wire.resolve_address(resolvers, mname, self.timeout), 53)
        return self._server

    def find_zone(self, name: str) -> str:
        name = check_name(name)
        configured = self.dns.zone
        if configured:
            zone = check_name(configured)
            if in_zone(name, zone):
                return zone
            raise InputError(f"DNS name {name} is outside the zone {zone} (mailserver.dns.zone)")
        if name not in self._zones:
            self._zones[name] = wire.find_soa_zone(self.server(name), name, self.timeout)[0]
        return self._zones[name]

    def zones(self) -> list[str]:
        return [self.dns.zone] if self.dns.zone else []

    # --- read -------------------------------------------------------------------------------------

    def list_rrsets(self, zone: str, name: str | None = None) -> list[RRset]:
        if name is None:
            return self._axfr(zone)
        out = []
        for rtype in LIST_TYPES:
            rcode, rr, _ = wire.query(self.server(zone), name, rtype, self.timeout)
            if rcode == "REFUSED" or rcode == "NOTAUTH":
                raise ProviderError(f"rfc2136: {self._where()} is not authoritative for {zone} ({rcode})")
            if rr is not None:
                out.append(rr)
            if rcode == "NXDOMAIN":
                break
        return out

    def read(self, zone: str, keys: Any) -> dict[tuple[str, str], RRset]:
        # One query per name and type: cheap on a LAN, and needs no AXFR permission.
        found = {}
        for name in sorted({name for name, _ in keys}):
            for rr in self.list_rrsets(zone, name):
                found[rr.key] = rr
        return found

    def _axfr(self, zone: str) -> list[RRset]:
        import dns.exception
        import dns.query
        import dns.zone

        host, port = self.server(zone)
        try:
            xfr = dns.query.xfr(
                host,
                zone + ".",
                port=port,
                keyring=self._keyring(),
                keyname=self._keyname(),
                keyalgorithm=self.algorithm,
                timeout=self.timeout,
                lifetime=self.timeout * 3,
            )
            z = dns.zone.from_xfr(xfr, relativize=False)
        except (OSError, dns.exception.DNSException) as exc:
            raise ProviderError(f"rfc2136: zone transfer of {zone} from {self._where()} failed: {exc}") from None
        out = []
        for name, node in z.nodes.items():
            owner = name.to_text().rstrip(".").lower()
            for rdataset in node.rdatasets:
                rtype = dns.rdatatype.to_text(rdataset.rdtype)
                out.append(RRset.make(owner, rtype, rdataset.ttl, [rd.to_text() for rd in rdataset]))
        return out

    def check_credentials(self, domain: str) -> dict[str, Any]:
        """A TSIG-signed SOA query for the zone: the server checks the key as it would for an update."""
        import dns.exception
        import dns.message
        import dns.query
        import dns.rcode

        zone = self.find_zone(domain)
        host, port = self.server(zone)
        query = dns.message.make_query(zone + ".", "SOA")
        query.use_tsig(self._keyring(), keyname=self._keyname(), algorithm=self.algorithm)
        try:
            with self._tsig_refusals(host, port):
                response = dns.query.tcp(query, host, port=port, timeout=self.timeout)
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise ProviderError(f"rfc2136: SOA query for {zone} at {host}:{port} failed: {exc}") from None
        rcode = dns.rcode.to_text(response.rcode())
        if rcode != "NOERROR" or not response.answer:
            raise ProviderError(f"rfc2136: {host}:{port} answered {rcode} for the SOA of {zone}: not its primary?")
        return {"provider": self.name, "zone": zone, "checked": f"TSIG-signed SOA query to {host}:{port}"}

    @contextlib.contextmanager
    def _tsig_refusals(self, host: str, port: int, *, then: str = "") -> Iterator[None]:
        """The server's TSIG refusals as one line each (`then` ends the line)."""
        import dns.tsig

        try:
            yield
        except dns.tsig.PeerBadKey:
            raise ProviderError(f"rfc2136: {host}:{port} does not know TSIG key {self._keyname()} "
                                f"(BADKEY){then}") from None  # fmt: skip
        except dns.tsig.PeerBadSignature:
            raise ProviderError(f"rfc2136: {host}:{port} rejected the TSIG signature of key {self._keyname()} "
                                f"(BADSIG: wrong secret or algorithm){then}") from None  # fmt: skip
        except dns.tsig.PeerError as exc:
            raise ProviderError(f"rfc2136: {host}:{port} rejected TSIG ({exc}){then}") from None

    # --- write ------------------------------------------------------------------------------------

    def _keyname(self) -> str:
        return self.credentials["key_name"].rstrip(".") + "."

    def _keyring(self) -> Any:
        import binascii

        import dns.tsigkeyring

        try:
            return dns.tsigkeyring.from_text({self._keyname(): self.credentials["key_secret"]})
        except (binascii.Error, ValueError):
            raise InputError("rfc2136: key_secret in the credentials file is not valid base64") from None

    def _where(self) -> str:
        host, port = self._server or ("?", 53)
        return f"{host}:{port}"

    def build_update(self, zone: str, changes: list[Change]) -> Any:
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype
        import dns.update

        update = dns.update.UpdateMessage(
            zone + ".", keyring=self._keyring(), keyname=self._keyname(), keyalgorithm=self.algorithm
        )
        for change in changes:
            name, rtype = change.key
            owner = name + "."
            if change.old is None:
                update.absent(owner, rtype)
            else:
                update.present(owner, *self._rdatas(change.old))
            update.delete(owner, rtype)
            if change.new is not None:
                update.add(owner, change.new.ttl, *self._rdatas(change.new))
        return update

    @staticmethod
    def _rdatas(rrset: RRset) -> list[Any]:
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype

        rdtype = dns.rdatatype.from_text(rrset.type)
        try:
            return [dns.rdata.from_text(dns.rdataclass.IN, rdtype, v) for v in rrset.values]
        except dns.exception.DNSException as exc:  # type: ignore[name-defined]
            raise InputError(f"{rrset.name} {rrset.type}: bad value ({exc})") from None

    def apply(self, zone: str, changes: list[Change]) -> None:
        if not changes:
            return
        import dns.exception
        import dns.query
        import dns.rcode

        for change in changes:
            if not in_zone(change.key[0], zone):
                raise InputError(f"DNS name {change.key[0]} is outside the zone {zone}; nothing was changed")
        update = self.build_update(zone, changes)
        host, port = self.server(zone)
        self.requests += 1
        try:
            with self._tsig_refusals(host, port, then="; nothing was changed"):
                response = dns.query.tcp(update, host, port=port, timeout=self.timeout)
        except dns.exception.Timeout:
            raise ProviderError(
                f"rfc2136: {host}:{port} did not answer the update within {self.timeout:.0f} s; "
                "run dns-setup again to converge"
            ) from None
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise ProviderError(f"rfc2136: update of {zone} at {host}:{port} failed: {exc}") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            text = dns.rcode.to_text(rcode)
            hint = {
                "REFUSED": "the key may not update this zone (check the server's ACL)",
                "NOTAUTH": "the server is not authoritative or the key is unknown",
                "NXRRSET": "the zone changed since it was read; run dns-setup again",
                "YXRRSET": "the zone changed since it was read; run dns-setup again",
                "NOTZONE": "a name is outside the zone",
            }.get(text, "see the server's log")
            raise ProviderError(f"rfc2136: {host}:{port} answered {text} for {zone}: {hint}; nothing was changed")
        logger.info("rfc2136: %d rrset change(s) applied to %s at %s:%d", len(changes), zone, host, port)

    def describe(self) -> str:
        return f"rfc2136 ({self.dns.server or 'primary from SOA'})"
