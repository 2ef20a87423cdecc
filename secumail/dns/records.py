"""The record model and the desired record set of a mail domain.

`desired_records(settings, domain, keys)` is a pure function: everything it
needs from the outside world (DKIM public keys, the public addresses, the
certificate's key digest) comes in `keys`, gathered by `gather_keys()`.

Names are absolute, lower case, without the final dot ("mail.example.com").
Values are in zone-file presentation form with absolute target names
("10 mail.example.com."); a TXT value is one or more quoted strings of at most
255 bytes each (`"v=DKIM1; k=rsa; p=MIIB..." "...rest"`).

Decisions (see docs/dns-providers.md):
- SRV (RFC 6186, RFC 8314): all six services are published; a service that is
  off gets target "." with port 0 ("not offered here", RFC 6186 section 4),
  so clients do not probe for it. `_caldavs._tcp` and `_carddavs._tcp`
  (RFC 6764) only with features.dav, at ports.dav (Radicale's root is the
  context path: no TXT path record).
- CAA is published at the mail host name, not at the domain apex, so it never
  restricts which CA may issue the domain's web certificates.
- TLSA `3 1 1` (DANE-EE, SPKI, SHA-256) for `_25._tcp.<mail host>` only when
  the zone is declared signed (dns.dnssec).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secumail.errors import InputError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

# Tags of the TXT records we publish: at a shared name (the apex TXT rrset also holds
# site verifications etc.) we manage only the strings that start with our tag.
TXT_TAGS = ("v=spf1", "v=DMARC1", "v=DKIM1", "v=STSv1", "v=TLSRPTv1")

# RFC 6186 / RFC 8314 service → the Ports option that offers it.
SRV_SERVICES = (
    ("_submissions._tcp", "smtps"),
    ("_submission._tcp", "submission"),
    ("_imaps._tcp", "imaps"),
    ("_imap._tcp", "imap"),
    ("_pop3s._tcp", "pop3s"),
    ("_pop3._tcp", "pop3"),
)
# Calendars and contacts (RFC 6764), published only with features.dav: Radicale speaks TLS alone.
DAV_SRV_SERVICES = (("_caldavs._tcp", "dav"), ("_carddavs._tcp", "dav"))

CA_ISSUERS = {
    "letsencrypt": "letsencrypt.org",
    "letsencrypt-staging": "letsencrypt.org",
    "zerossl": "sectigo.com",
}

MTA_STS_MAX_AGE = 604800  # one week: long enough to protect, short enough to recover from a mistake
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, order=True)
class RRset:
    """All records of one name and type, as we want them (or as a provider holds them)."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...] = field(default=())

    @staticmethod
    def make(name: str, rtype: str, ttl: int, values: Iterable[str]) -> RRset:
        rtype = rtype.upper()
        return RRset(check_name(name), rtype, int(ttl), tuple(sorted({normalize(rtype, v) for v in values})))

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.type)

    def zone_lines(self) -> list[str]:
        """The rrset as zone-file lines (absolute owner names)."""
        return [f"{self.name}. {self.ttl} IN {self.type} {value}" for value in self.values]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}


# --- names and values --------------------------------------------------------------------------


def check_name(name: str) -> str:
    """Lower-case absolute name without the final dot; refuse what DNS cannot hold."""
    name = name.strip().lower().rstrip(".")
    if not name or len(name) > 253:
        raise InputError(f"DNS name {name!r} is empty or longer than 253 characters")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise InputError(
                f"DNS name {name!r}: label {label!r} is empty, longer than 63 characters or holds "
                "characters other than letters, digits, '-' and '_'"
            )
    return name


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def relative(name: str, zone: str, apex: str = "") -> str:
    """Owner name relative to `zone`: `apex` ("" or "@", as the API wants) for the apex itself."""
    if name == zone:
        return apex
    if not name.endswith("." + zone):
        raise InputError(f"DNS name {name} is outside the zone {zone}")
    return name[: -len(zone) - 1]


def absolute(name: str, zone: str) -> str:
    """An API's owner name ("@", "", "www", or already absolute) → absolute name without the final dot."""
    name = name.rstrip(".")
    if name in ("@", ""):
        return zone
    return name if in_zone(name, zone) else f"{name}.{zone}"


def txt_quote(text: str) -> str:
    """TXT text → presentation form, split into strings of at most 255 bytes (RFC 1035 3.3.14)."""
    data = text.encode("utf-8")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + _escape(chunk) + '"' for chunk in chunks)


def _escape(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def txt_strings(value: str) -> list[bytes]:
    """Presentation form of a TXT rdata → its character strings. Unquoted text is one string."""
    value = value.strip()
    if not value.startswith('"'):
        return [value.encode("utf-8")]
    strings: list[bytes] = []
    i = 0
    while i < len(value):
        if value[i].isspace():
            i += 1
            continue
        if value[i] != '"':
            raise InputError(f"TXT value {value[:40]!r}: text outside quotes")
        i += 1
        buf = bytearray()
        while i < len(value) and value[i] != '"':
            if value[i] == "\\":
                if value[i + 1 : i + 4].isdigit() and len(value[i + 1 : i + 4]) == 3:
                    buf.append(int(value[i + 1 : i + 4]))
                    i += 4
                    continue
                i += 1
            buf.extend(value[i].encode("utf-8"))
            i += 1
        if i >= len(value):
            raise InputError(f"TXT value {value[:40]!r}: unterminated quote")
        strings.append(bytes(buf))
        i += 1
    return strings


def txt_text(value: str) -> str:
    """The logical text of a TXT value: its strings concatenated (what SPF/DKIM/DMARC readers see)."""
    return b"".join(txt_strings(value)).decode("utf-8", "replace")


def shown(rtype: str, values: Iterable[str]) -> list[str]:
    """Values as a user reads them (a TXT value as its text, without quotes and string splits)."""
    return [txt_text(v) if rtype == "TXT" else v for v in values]


def _abs(target: str) -> str:
    target = target.strip().lower()
    return "." if target in (".", "") else target.rstrip(".") + "."


def normalize(rtype: str, value: str) -> str:
    """One canonical presentation form per rdata, so values from any provider compare equal."""
    rtype = rtype.upper()
    value = " ".join(value.split()) if rtype != "TXT" else value.strip()
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(value))
        if rtype == "AAAA":
            return str(ipaddress.IPv6Address(value))
        if rtype in ("CNAME", "NS", "PTR"):
            return _abs(value)
        if rtype == "MX":
            pref, target = value.split(" ")
            return f"{int(pref)} {_abs(target)}"
        if rtype == "SRV":
            prio, weight, port, target = value.split(" ")
            return f"{int(prio)} {int(weight)} {int(port)} {_abs(target)}"
        if rtype == "CAA":
            flags, tag, rest = value.split(" ", 2)
            text = rest[1:-1] if rest.startswith('"') and rest.endswith('"') else rest
            return f'{int(flags)} {tag.lower()} "{text}"'
        if rtype == "TLSA":
            usage, selector, mtype, *data = value.split(" ")
            return f"{int(usage)} {int(selector)} {int(mtype)} {''.join(data).lower()}"
        if rtype == "TXT":
            return txt_quote(txt_text(value))
    except ValueError as exc:
        raise InputError(f"{rtype} value {value!r} is malformed: {exc}") from None
    return value


# --- what we publish ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Facts from outside Settings that the record set depends on (see gather_keys)."""

    dkim: dict[str, str] = field(default_factory=dict)  # selector → "v=DKIM1; k=rsa; p=..."
    ipv4: str = ""
    ipv6: str = ""
    tlsa_sha256: str = ""  # hex SHA-256 of the certificate's SubjectPublicKeyInfo


def spf_value(settings: Settings) -> str:
    """`mx`, then include: for each dns.spf_include (a relay's published senders), then the policy."""
    includes = "".join(f" include:{domain}" for domain in settings.dns.spf_include)
    return f"v=spf1 mx{includes} {settings.dns.spf_policy}"


def dmarc_value(settings: Settings, domain: str) -> str:
    rua = settings.dns.dmarc_rua or f"{settings.main.postmaster}@{domain}"
    return f"v=DMARC1; p={settings.dns.dmarc_policy}; rua=mailto:{rua}"


def tls_rpt_value(settings: Settings, domain: str) -> str:
    rua = settings.dns.dmarc_rua or f"{settings.main.postmaster}@{domain}"
    return f"v=TLSRPTv1; rua=mailto:{rua}"


def caa_issuer(settings: Settings) -> str:
    """The CA's CAA domain: explicit dns.caa_issuer, else known from ssl.type, else '' (publish none)."""
    return settings.dns.caa_issuer or CA_ISSUERS.get(settings.ssl.type, "")


def mta_sts_policy(settings: Settings, domain: str) -> str:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.2)."""
    return (
        f"version: STSv1\r\nmode: {settings.dns.mta_sts}\r\nmx: {settings.main.fqdn}\r\nmax_age: {MTA_STS_MAX_AGE}\r\n"
    )


def mta_sts_id(policy: str) -> str:
    """The policy id: changes whenever the policy text does (RFC 8461 3.1: 1-32 alphanumerics)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def desired_records(settings: Settings, domain: str, keys: Keys) -> list[RRset]:
    """Every rrset `domain` needs, in a stable order. Records of the mail host itself (A, AAAA,
    CAA, TLSA) belong to the main domain's set only."""
    domain = check_name(domain)
    fqdn = check_name(settings.main.fqdn)
    dns = settings.dns
    ttl = dns.ttl
    out: list[RRset] = []

    def add(name: str, rtype: str, *values: str) -> None:
        out.append(RRset.make(name, rtype, ttl, values))

    if domain == check_name(settings.main.domain):
        if not keys.ipv4:
            raise InputError(
                f"no address for the A record of {fqdn}: set mailserver.dns.public_ipv4 "
                "(the WAN address could not be detected)"
            )
        # Addresses that follow the WAN get a short TTL: resolvers forget the old one soon.
        address_ttl = dns.wan_ttl if dns.follow_wan else ttl
        out.append(RRset.make(fqdn, "A", address_ttl, [keys.ipv4]))
        if keys.ipv6:
            out.append(RRset.make(fqdn, "AAAA", address_ttl, [keys.ipv6]))
        issuer = caa_issuer(settings)
        if dns.caa and issuer:
            add(fqdn, "CAA", f'0 issue "{issuer}"')
        if dns.dnssec and keys.tlsa_sha256:
            add(f"_25._tcp.{fqdn}", "TLSA", f"3 1 1 {keys.tlsa_sha256}")

    add(domain, "MX", f"10 {fqdn}.")
    if settings.features.spf:
        add(domain, "TXT", txt_quote(spf_value(settings)))
    if settings.features.dmarc:
        add(f"_dmarc.{domain}", "TXT", txt_quote(dmarc_value(settings, domain)))
    if settings.features.dkim:
        for selector, value in sorted(keys.dkim.items()):
            add(f"{selector}._domainkey.{domain}", "TXT", txt_quote(value))
    if dns.srv:
        enabled = settings.open_ports()
        for service, port_name in SRV_SERVICES:
            port = enabled.get(port_name)
            add(f"{service}.{domain}", "SRV", f"0 1 {port} {fqdn}." if port else "0 0 0 .")
        if enabled.get("dav"):
            for service, port_name in DAV_SRV_SERVICES:
                add(f"{service}.{domain}", "SRV", f"0 1 {enabled[port_name]} {fqdn}.")
    if dns.autoconfig:
        for label in ("autoconfig", "autodiscover"):
            if f"{label}.{domain}" != fqdn:
                add(f"{label}.{domain}", "CNAME", f"{fqdn}.")
    if dns.mta_sts != "none":
        policy_id = mta_sts_id(mta_sts_policy(settings, domain))
        add(f"_mta-sts.{domain}", "TXT", txt_quote(f"v=STSv1; id={policy_id}"))
        # where senders fetch the policy: the mail host, whose lighttpd serves it (secumail.mail.mtasts)
        if f"mta-sts.{domain}" != fqdn:
            add(f"mta-sts.{domain}", "CNAME", f"{fqdn}.")
    if dns.tls_rpt:
        add(f"_smtp._tls.{domain}", "TXT", txt_quote(tls_rpt_value(settings, domain)))
    return out


def txt_tag(value: str) -> str | None:
    """Which of our record kinds a TXT value is ("v=spf1", "v=DMARC1", ...), or None."""
    text = txt_text(value).lstrip()
    for tag in TXT_TAGS:
        if text.lower().startswith(tag.lower()) and (len(text) == len(tag) or text[len(tag)] in " ;"):
            return tag
    return None
