"""The answers file of `mailctl setup --answers FILE`: every question of the setup, answered in advance.

An INI file (docs/setup.md). Sections and keys:

    [identity]     domain (required), hostname (default: mail)
    [dns]          provider (required); any option of mailserver.dns (server, zone, resolver,
                   public_ipv4, credentials: where the secrets are saved, ...); every other key is a
                   credential of the provider (token, key_name, ...)
    [certificate]  optional: type (mailserver.ssl.type) and any option of mailserver.acme
                   (directory, ca_bundle, email, ...)
    [mailbox]      address (required), password (required), quota (optional)

It holds secrets, so a file others may read is refused. Everything is checked here before
any step runs: the first problem is one line, and nothing is written.
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field

from secumail.appliance.schema import ADDRESS, DOMAIN, SIZE
from secumail.errors import InputError

SECTIONS = ("identity", "dns", "certificate", "mailbox")
HOSTNAME_LABEL = DOMAIN


@dataclass(frozen=True)
class Answers:
    domain: str
    hostname: str
    provider: str
    dns_options: dict[str, str] = field(default_factory=dict)  # mailserver.dns.<option>
    credentials: dict[str, str] = field(default_factory=dict)  # the provider's secrets file
    ssl_options: dict[str, str] = field(default_factory=dict)  # mailserver.ssl.<option>
    address: str = ""
    password: str = field(default="", repr=False)
    quota: str | None = None


def read(path: str) -> str:
    """The file's text; refused when others may read it (it holds the mailbox password)."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError(f"answers file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read answers file {path}: {exc}") from None
    if stat.S_IMODE(st.st_mode) & 0o007:
        raise InputError(f"answers file {path} is readable by others and holds secrets: chmod 600 {path}")
    return text


def parse(text: str, *, dns_options: tuple[str, ...], ssl_options: tuple[str, ...], source: str = "answers") -> Answers:
    """Answers from the INI text; `dns_options`/`ssl_options` are the option names of those UCI sections."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise InputError(f"{source}: not valid INI: {exc.message.splitlines()[0]}") from None
    unknown = [name for name in parser.sections() if name not in SECTIONS]
    if unknown:
        raise InputError(f"{source}: unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})")

    def get(section: str, key: str, *, required: bool = True) -> str:
        value = parser.get(section, key, fallback="").strip() if parser.has_section(section) else ""
        if required and not value:
            raise InputError(f"{source}: [{section}] {key} is missing")
        return value

    domain = get("identity", "domain").lower().rstrip(".")
    if not DOMAIN.match(domain) or "." not in domain:
        raise InputError(f"{source}: [identity] domain {domain!r} is not a domain name")
    hostname = get("identity", "hostname", required=False) or "mail"
    if not DOMAIN.match(hostname):
        raise InputError(f"{source}: [identity] hostname {hostname!r} is not a host name")
    extra = sorted(set(parser.options("identity")) - {"domain", "hostname"})
    if extra:
        raise InputError(f"{source}: [identity] unknown key {extra[0]} (known: domain, hostname)")
    provider = get("dns", "provider")
    dns: dict[str, str] = {}
    credentials: dict[str, str] = {}
    for key, value in parser.items("dns"):
        if key == "provider":
            continue
        (dns if key in dns_options else credentials)[key] = value.strip()
    ssl: dict[str, str] = {}
    if parser.has_section("certificate"):
        for key, value in parser.items("certificate"):
            if key not in ssl_options:
                raise InputError(f"{source}: [certificate] unknown key {key} (known: {', '.join(ssl_options)})")
            ssl[key] = value.strip()
    address = get("mailbox", "address").lower()
    if not ADDRESS.match(address):
        raise InputError(f"{source}: [mailbox] address {address!r} is not an e-mail address")
    if address.rpartition("@")[2] != domain:
        raise InputError(f"{source}: [mailbox] address {address} is not in the domain {domain}")
    password = parser.get("mailbox", "password", fallback="")
    if not password or any(ch in password for ch in "\0\r\n") or len(password) > 1024:
        raise InputError(f"{source}: [mailbox] password is missing or not one line of at most 1024 characters")
    quota = get("mailbox", "quota", required=False) or None
    if quota is not None and not SIZE.match(quota):
        raise InputError(f"{source}: [mailbox] quota {quota!r} is not a size (like 500M or 2G)")
    extra = sorted(set(parser.options("mailbox")) - {"address", "password", "quota"})
    if extra:
        raise InputError(f"{source}: [mailbox] unknown key {extra[0]} (known: address, password, quota)")
    return Answers(domain=domain, hostname=hostname, provider=provider, dns_options=dns, credentials=credentials,
                   ssl_options=ssl, address=address, password=password, quota=quota)


def credentials_line(credentials: dict[str, str]) -> str:
    """The provider's secrets as one line `key=value key=value` (how the setup.dns operation takes them)."""
    for key, value in credentials.items():
        if not value or any(ch.isspace() for ch in value) or "=" in key:
            raise InputError(f"DNS credential {key}: must be one word without spaces")
    return " ".join(f"{key}={value}" for key, value in credentials.items())


def parse_credentials_line(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if not sep or not key or not value:
            raise InputError("DNS credentials: expected KEY=VALUE words separated by spaces")
        out[key.lower()] = value
    return out
