"""What the record set needs from this machine: domains, public addresses, DKIM keys, cert digest.

Kept apart from records.py so that desired_records() stays a pure function.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from secumail.dns.records import Keys, check_name
from secumail.errors import InputError, SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)


def mail_domains(settings: Settings) -> list[str]:
    """main.domain plus the lines of data_path/config/domains (missing file: only main.domain).

    Lives here until the mail package offers its own reader of that file.
    """
    domains = [check_name(settings.main.domain)]
    path = settings.layout.domains_file
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return domains
    except OSError as exc:
        raise SecumailError(f"cannot read the domain list {path}: {exc.strerror}") from None
    for line in lines:
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        word = word.split()[0]
        try:
            name = check_name(word)
            if "." not in name:
                raise InputError(name)
        except InputError:
            logger.warning("%s: ignoring %r, not a domain name", path, word)
            continue
        if name not in domains:
            domains.append(name)
    return domains


def select_domains(settings: Settings, wanted: str | None) -> list[str]:
    domains = mail_domains(settings)
    if wanted is None:
        return domains
    name = check_name(wanted)
    if name not in domains:
        raise InputError(f"{wanted} is not one of this server's mail domains ({', '.join(domains)})")
    return [name]


def public_addresses(settings: Settings) -> tuple[str, str]:
    """The A/AAAA addresses: dns.public_ipv4 (an address, 'auto' or the WAN interface's, see
    secumail.dns.wan) and dns.public_ipv6 (an address, or 'wan'). An address that cannot be
    learnt is '' (the reason is logged; desired_records() then refuses the A record in one line,
    and leaves the AAAA record out)."""
    from secumail.dns import wan

    ipv4, ipv6 = settings.dns.public_ipv4, settings.dns.public_ipv6
    if ipv4 in ("", "auto"):
        try:
            ipv4 = wan.public_ipv4(settings)
        except SecumailError as exc:
            logger.warning("no address for the A record: %s", exc)
            ipv4 = ""
    if ipv6 == "wan":
        try:
            ipv6 = wan.public_ipv6(settings)
        except SecumailError as exc:
            logger.warning("no address for the AAAA record: %s", exc)
            ipv6 = ""
    return ipv4, ipv6


def dkim_selectors(settings: Settings) -> list[str]:
    """The DKIM selectors the settings ask for (none when DKIM is off)."""
    if not settings.features.dkim:
        return []
    from secumail.mail import dkim

    selectors = [settings.dkim.selector]
    if settings.dkim.ed25519:
        selectors.append(dkim.ed25519_selector(settings.dkim.selector))
    return selectors


def dkim_values(settings: Settings, domain: str) -> dict[str, str]:
    """selector → DKIM TXT text for the keys that exist (created by the mail package).

    A selector without a key is simply absent: the caller says so once (a dry-run
    note, a dns-check row), see missing_dkim().
    """
    from secumail.mail import dkim

    out = {}
    for selector in dkim_selectors(settings):
        value = dkim.dns_txt_value(settings.main.data_path, domain, selector)
        if value is not None:
            out[selector] = value
    return out


def missing_dkim(settings: Settings, keys: Keys) -> list[str]:
    """Selectors the settings ask for whose key does not exist yet (their record is left out)."""
    return [s for s in dkim_selectors(settings) if s not in keys.dkim]


def tlsa_digest(settings: Settings) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo of data_path/ssl/fullchain.pem's first certificate."""
    path = settings.layout.fullchain
    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except FileNotFoundError:
        return ""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SecumailError(f"{path} is not a PEM certificate ({exc}); TLSA cannot be computed") from None
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def gather_keys(settings: Settings, domain: str, addresses: tuple[str, str] | None = None) -> Keys:
    ipv4, ipv6 = addresses if addresses is not None else public_addresses(settings)
    tlsa = tlsa_digest(settings) if settings.dns.dnssec and domain == settings.main.domain else ""
    return Keys(dkim=dkim_values(settings, domain), ipv4=ipv4, ipv6=ipv6, tlsa_sha256=tlsa)


def gather_all(settings: Settings, domains: list[str]) -> dict[str, Keys]:
    """domain → its Keys (the WAN address is looked up once for all)."""
    addresses = public_addresses(settings)
    return {domain: gather_keys(settings, domain, addresses) for domain in domains}
