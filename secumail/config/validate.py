"""Parsers for UCI option values: raw UCI string (or list) in, typed value out.

Each parser raises ValueError with the *problem* only ("is not a valid port");
the loader prefixes the UCI path and the value, so every error reads
`mailserver.ports.smtp: '99999' is not a valid port (1-65535)`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Callable, NamedTuple

Raw = "str | tuple[str, ...]"
Parser = Callable[[object], object]

TRUE_WORDS = frozenset({"1", "yes", "on", "true", "enabled"})
FALSE_WORDS = frozenset({"0", "no", "off", "false", "disabled"})

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# The same rule as mailctl's mailbox names (secumail/mail/store.py), any case.
_LOCALPART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*$")


def _scalar(raw: object) -> str:
    if isinstance(raw, (tuple, list)):
        raise ValueError("must be a single value, not a list")
    return str(raw)


def boolean(raw: object) -> bool:
    word = _scalar(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("is not a boolean (use 1/0, yes/no, on/off, true/false)")


def text(raw: object) -> str:
    return _scalar(raw)


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(raw: object) -> int:
        value = _scalar(raw).strip()
        if not re.fullmatch(r"-?[0-9]+", value):
            raise ValueError("is not a whole number")
        number = int(value)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            low = "" if minimum is None else str(minimum)
            high = "" if maximum is None else str(maximum)
            raise ValueError(f"is out of range ({low}-{high})")
        return number

    return parse


def memory_limit(raw: object) -> int:
    """MiB, or 'auto' (returned as 0): the settings pick what the enabled features need."""
    if _scalar(raw).strip().lower() == "auto":
        return 0
    try:
        return integer(64, 65536)(raw)
    except ValueError as exc:
        raise ValueError(f"{exc} and is not 'auto'") from None


def port(raw: object) -> int:
    value = _scalar(raw).strip()
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError("is not a valid port (1-65535)")
    return int(value)


def optional_port(raw: object) -> int:
    """A port, or 0 / empty for 'this service is off'."""
    value = _scalar(raw).strip()
    if value in ("", "0"):
        return 0
    return port(value)


def domain_name(raw: object) -> str:
    """An internationalised domain name; returns its ASCII (A-label) form, lower case."""
    value = _scalar(raw).strip().rstrip(".")
    if not value or any(ch.isspace() for ch in value):
        raise ValueError("is not a valid domain name")
    try:
        ascii_name = value.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("is not a valid domain name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("is not a valid domain name")
    if labels[-1].isdigit():
        raise ValueError("is not a valid domain name (the last label is numeric)")
    return ascii_name


def host_name(raw: object) -> str:
    """A host label ('mail') or a fully qualified name ('mail.example.com')."""
    value = _scalar(raw).strip().rstrip(".").lower()
    if "." in value:
        return domain_name(value)
    if not _LABEL.match(value):
        raise ValueError("is not a valid host name")
    return value


def local_part(raw: object) -> str:
    value = _scalar(raw).strip()
    if not _LOCALPART.match(value) or len(value) > 64:
        raise ValueError("is not a valid mailbox name")
    return value


def email_address(raw: object) -> str:
    value = _scalar(raw).strip()
    local, sep, dom = value.rpartition("@")
    if not sep:
        raise ValueError("is not a valid e-mail address")
    try:
        return f"{local_part(local)}@{domain_name(dom)}"
    except ValueError:
        raise ValueError("is not a valid e-mail address") from None


def optional(parser: Parser) -> Parser:
    """Empty means 'not set' (returned as '')."""

    def parse(raw: object) -> object:
        if isinstance(raw, str) and raw.strip() == "":
            return ""
        return parser(raw)

    return parse


def absolute_path(raw: object) -> str:
    value = _scalar(raw).strip()
    if not value.startswith("/") or "\0" in value:
        raise ValueError("is not an absolute path")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..'")
    return value.rstrip("/") or "/"


def choice(*allowed: str) -> Parser:
    def parse(raw: object) -> str:
        value = _scalar(raw).strip()
        if value not in allowed:
            raise ValueError(f"is not one of: {', '.join(allowed)}")
        return value

    return parse


def ipv4_interface(raw: object) -> ipaddress.IPv4Interface:
    value = _scalar(raw).strip()
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError("is not an IPv4 address with prefix (like 10.231.0.2/24)") from None
    if "/" not in value:
        raise ValueError("needs a prefix length (like 10.231.0.2/24)")
    return iface


def ip_address(raw: object) -> str:
    value = _scalar(raw).strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not an IP address") from None


_BRACKETED = re.compile(r"\[([^\]]*)\](?::(.*))?")


def split_server(spec: str, default_port: int = 53) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '2001:db8::1' or '[2001:db8::1]:5353' → (address, port)."""
    spec = spec.strip()
    bracketed = _BRACKETED.fullmatch(spec)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2)
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:
        host, port_text = spec, None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("must be an IP address (optionally with :port)") from None
    if port_text is None:
        return host, default_port
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
        raise ValueError("has no valid port (1-65535)")
    return host, int(port_text)


def server_address(raw: object) -> str:
    """An IP address with an optional port: 192.0.2.1, 192.0.2.1:5353, 2001:db8::1, [2001:db8::1]:5353."""
    value = _scalar(raw).strip()
    split_server(value)
    return value


def url(raw: object) -> str:
    value = _scalar(raw).strip()
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
        raise ValueError("is not an http(s) URL")
    return value


def https_url(raw: object) -> str:
    """An https:// URL: what carries account keys or API secrets, or code to run, never travels in clear."""
    value = url(raw)
    if not value.lower().startswith("https://"):
        raise ValueError("is not an https:// URL")
    return value


def loopback_http_ok(value: str) -> bool:
    """True for an https:// URL, or an http:// one to this machine (127.0.0.0/8, ::1, localhost)."""
    import urllib.parse

    parsed = urllib.parse.urlsplit(value.strip())
    if parsed.scheme.lower() == "https":
        return True
    if parsed.scheme.lower() != "http" or not parsed.hostname:
        return False
    if parsed.hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False


def public_ip_url(raw: object) -> str:
    """An https:// URL, or http:// to this machine (tests): where dns.public_ipv4 'auto' asks for the address."""
    value = url(raw)
    if not loopback_http_ok(value):
        raise ValueError("is not an https:// URL (http:// only to this machine: 127.0.0.1, ::1, localhost)")
    return value


def ipv4_or_auto(raw: object) -> str:
    """'' (detect from the WAN interface), 'auto' (ask dns.public_ip_url) or an IPv4 address."""
    value = _scalar(raw).strip()
    if value in ("", "auto"):
        return value
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("is not an IPv4 address, 'auto' or empty") from None


def ipv6_or_wan(raw: object) -> str:
    """'' (no AAAA record), 'wan' (the WAN interface's global address) or an IPv6 address."""
    value = _scalar(raw).strip()
    if value in ("", "wan"):
        return value
    try:
        return str(ipaddress.IPv6Address(value))
    except ValueError:
        raise ValueError("is not an IPv6 address, 'wan' or empty") from None


RELAY_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")  # a `config relay` section name (also its password file's)
NODE_ID_CHARS = 32  # base32 characters of a mesh node id (160 bits of SHA-256 of its public key)


def node_id(raw: object) -> str:
    """A mesh node id in any case, with or without dashes; returned grouped 4 by 4, upper case."""
    value = _scalar(raw)
    compact = re.sub(r"[\s-]", "", value).upper()
    if not compact:
        raise ValueError("is not a node id: it is required ('mailctl mesh id' shows it on that node)")
    if len(compact) != NODE_ID_CHARS or not re.fullmatch(r"[A-Z2-7]+", compact):
        raise ValueError("is not a node id (32 base32 characters, as 'mailctl mesh id' shows)")
    return "-".join(compact[i : i + 4] for i in range(0, NODE_ID_CHARS, 4))


def host(raw: object) -> str:
    """An IP address (IPv6 with or without brackets) or a host name, without a port."""
    value = _scalar(raw).strip()
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    try:
        return host_name(value)
    except ValueError:
        raise ValueError("is not an IP address or a host name (give the port as its own option)") from None


def interface_name(raw: object) -> str:
    value = _scalar(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", value):
        raise ValueError("is not a valid network interface name (1-15 characters)")
    return value


def name_word(raw: object) -> str:
    """A container or section-like name: letters, digits, '-', '_', '.'."""
    value = _scalar(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", value):
        raise ValueError("is not a valid name (letters, digits, '-', '_', '.')")
    return value


def cgroup_path(raw: object) -> str:
    """A cgroup below the cgroup root, as LXC's lxc.cgroup.dir takes it: name/name/..., no '..'."""
    value = _scalar(raw).strip()
    parts = value.split("/")
    if not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", part) and part != ".." for part in parts):
        raise ValueError("is not a cgroup path below the root (names of letters, digits, '-', '_', '.' joined by '/')")
    return value


def sasl_user(raw: object) -> str:
    """A SASL login for a relay: printable, no space and no ':' (Postfix's password map is user:password)."""
    value = _scalar(raw).strip()
    if not value:
        raise ValueError("is required (the login the relay gave you)")
    if len(value) > 256 or not value.isprintable() or any(ch.isspace() or ch == ":" for ch in value):
        raise ValueError("is not a valid login (printable, no spaces, no ':')")
    return value


def spf_mechanism(raw: object) -> str:
    """A domain for an SPF include: mechanism (the relay's published SPF, e.g. 'spf.isp.example')."""
    value = _scalar(raw).strip()
    if value.lower().startswith("include:"):
        value = value[len("include:"):]
    try:
        return domain_name(value)
    except ValueError:
        raise ValueError("is not a domain name for an SPF include (e.g. spf.isp.example)") from None


def list_of(parser: Parser) -> Parser:
    """A UCI list (or a single value, or a space-separated option) → tuple."""

    def parse(raw: object) -> tuple:
        if isinstance(raw, (tuple, list)):
            items: Sequence[str] = raw
        else:
            items = str(raw).split()
        return tuple(parser(item) for item in items if str(item).strip())

    return parse


def decimal(minimum: float, maximum: float) -> Parser:
    """A number with an optional fraction (Rspamd scores: '6', '7.5', '-2')."""

    def parse(raw: object) -> float:
        value = _scalar(raw).strip()
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
            raise ValueError("is not a number (like 6 or 7.5)")
        number = float(value)
        if not minimum <= number <= maximum:
            raise ValueError(f"is out of range ({minimum:g}-{maximum:g})")
        return number

    return parse


# One octet of a postscreen DNSBL reply filter: 2, [2..11] or [2;4;8].
_OCTET = r"(?:[0-9]{1,3}|\[[0-9]{1,3}(?:\.\.[0-9]{1,3}|(?:;[0-9]{1,3})*)\])"
_DNSBL = re.compile(rf"^(?P<zone>[^=*\s]+)(?:=(?P<filter>{_OCTET}(?:\.{_OCTET}){{3}}))?"
                    r"(?:\*(?P<weight>-?[0-9]{1,3}))?$")


def dnsbl_site(raw: object) -> str:
    """A postscreen DNSBL entry: zone[=reply filter][*weight], e.g. zen.spamhaus.org=127.0.0.[2..11]*3."""
    value = _scalar(raw).strip()
    match = _DNSBL.match(value)
    if not match:
        raise ValueError("is not a DNS blocklist (zone, optionally =127.0.0.[2..11] and *weight)")
    try:
        domain_name(match.group("zone"))
    except ValueError:
        raise ValueError("does not start with a DNS zone name (like zen.spamhaus.org)") from None
    return value


IMPORT_NAME = RELAY_NAME  # the same rule: a UCI section name that is also a file name below data_path
_DURATION = re.compile(r"([0-9]{1,7})\s*([smhd]?)", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(minimum: int, maximum: int) -> Parser:
    """Seconds from '900', '15m', '1h', '2d'; the range is in seconds."""

    def parse(raw: object) -> int:
        match = _DURATION.fullmatch(_scalar(raw).strip())
        if not match:
            raise ValueError("is not a duration (like 30m, 1h or 1d)")
        seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
        if not minimum <= seconds <= maximum:
            raise ValueError(f"is out of range ({duration_text(minimum)}-{duration_text(maximum)})")
        return seconds

    return parse


def duration_text(seconds: int) -> str:
    """The shortest spelling `duration` reads back: 900 → '15m'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ImapUrl(NamedTuple):
    """Where an import reads: imaps:// (TLS from the first byte) or imap:// (STARTTLS required)."""

    scheme: str  # "imaps" or "imap"
    login: str
    host: str
    port: int

    def __str__(self) -> str:
        import urllib.parse

        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{urllib.parse.quote(self.login, safe='@!$&()*+,;=.-_~')}@{host}:{self.port}"


_IMAP_URL = re.compile(r"(imaps?)://(.+)@(\[[0-9A-Fa-f:.]+\]|[^@/:\[\]]+)(?::([0-9]{1,5}))?/?", re.IGNORECASE)


def parse_imap_url(raw: object) -> ImapUrl:
    """imaps://LOGIN@HOST[:PORT] or imap://...; the last '@' ends the login (it may hold one, or %40)."""
    import urllib.parse

    value = _scalar(raw).strip()
    match = _IMAP_URL.fullmatch(value)
    if not match:
        raise ValueError("is not an IMAP URL: imaps://LOGIN@HOST[:PORT] (or imap://LOGIN@HOST[:PORT] with STARTTLS)")
    scheme, userinfo, host_text, port_text = match.groups()
    login = urllib.parse.unquote(userinfo)
    if ":" in userinfo:
        raise ValueError("holds a password: give it on stdin (--password-stdin), never in the URL")
    if not login or not login.isprintable() or any(ch.isspace() for ch in login):
        raise ValueError("has no valid login before the '@'")
    scheme = scheme.lower()
    number = port(port_text) if port_text else (993 if scheme == "imaps" else 143)
    return ImapUrl(scheme, login, host(host_text), number)


def imap_url(raw: object) -> str:
    """An IMAP URL in its normal form (the port always written)."""
    return str(parse_imap_url(raw))


def folder_patterns(raw: object) -> tuple:
    """Folder names or glob patterns, one per UCI list item (a name may hold spaces: 'Sent Items')."""
    items = raw if isinstance(raw, (tuple, list)) else ((raw,) if str(raw).strip() else ())
    patterns = []
    for item in items:
        value = str(item).strip()
        if not value or not value.isprintable() or len(value) > 1000:
            raise ValueError(f"{value!r} is not a folder name or pattern")
        patterns.append(value)
    return tuple(patterns)
