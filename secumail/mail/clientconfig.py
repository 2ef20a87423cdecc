"""What mail clients read to set themselves up: Thunderbird autoconfig, Outlook autodiscover, Apple profiles.

Pure functions of Settings. Every document lists the same servers as the SRV
records dns-setup publishes (secumail.dns.records.SRV_SERVICES, RFC 6186):
the host is main.fqdn, a service is listed only when its port is on, and
implicit TLS comes before STARTTLS (RFC 8314 section 3). Logins are always
the full address with a cleartext password inside TLS (Dovecot refuses
plaintext logins without TLS).

Where they are served: docs/clients.md. dns-setup writes the autoconfig and
autodiscover files below data_path/autoconfig/<domain>/, for the container's
web server at autoconfig.<domain> and autodiscover.<domain>.
"""

from __future__ import annotations

import plistlib
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from secumail.config.settings import Settings

AUTOCONFIG_PATHS = ("mail/config-v1.1.xml", ".well-known/autoconfig/mail/config-v1.1.xml")
# The setup's phone profile (no password inside), under an unguessable name: docs/setup.md.
PROFILE_DIR = "profile"
PROFILE_PATH = PROFILE_DIR + "/[A-Za-z0-9_-]{20,64}.mobileconfig"  # a URL pattern: '.' is escaped where used
# Outlook asks for the lower-case path; older versions for the capitalised one (served from the same file).
AUTODISCOVER_PATHS = ("autodiscover/autodiscover.xml", "Autodiscover/Autodiscover.xml")
_POX_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
_POX_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


@dataclass(frozen=True)
class Server:
    protocol: str  # imap, pop3, smtp
    port: int
    tls: str  # "tls": implicit TLS from the first byte; "starttls": upgraded after the greeting


def servers(settings: Settings) -> list[Server]:
    """The client-facing services that are on, preferred first: IMAP, POP3, then SMTP submission."""
    enabled = settings.ports.enabled()
    wanted = (("imap", "imaps", "imap"), ("pop3", "pop3s", "pop3"), ("smtp", "smtps", "submission"))
    out = []
    for protocol, implicit, upgraded in wanted:
        if enabled.get(implicit):
            out.append(Server(protocol, enabled[implicit], "tls"))
        if enabled.get(upgraded):
            out.append(Server(protocol, enabled[upgraded], "starttls"))
    return out


def dav_base(settings: Settings) -> str | None:
    """Radicale's root URL (https://fqdn:ports.dav/), or None when features.dav is off."""
    from secumail.mail import dav

    if not dav.on(settings):
        return None
    return f"https://{settings.main.fqdn}:{settings.ports.dav}/"


def dav_principal(settings: Settings, address: str) -> str | None:
    """The principal URL Radicale serves for `address` (its collections live below it), or None."""
    base = dav_base(settings)
    return None if base is None else base + urllib.parse.quote(address, safe="@") + "/"


def thunderbird_autoconfig(settings: Settings, domain: str) -> str:
    """config-v1.1.xml (Thunderbird's autoconfig format, also read by K-9/Thunderbird for Android and Evolution)."""
    host = escape(settings.main.fqdn)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<clientConfig version="1.1">',
        f'  <emailProvider id="{escape(domain)}">',
        f"    <domain>{escape(domain)}</domain>",
        f"    <displayName>{escape(domain)} mail</displayName>",
        f"    <displayShortName>{escape(domain)}</displayShortName>",
    ]
    for server in servers(settings):
        tag, kind = ("outgoingServer", "smtp") if server.protocol == "smtp" else ("incomingServer", server.protocol)
        lines += [
            f'    <{tag} type="{kind}">',
            f"      <hostname>{host}</hostname>",
            f"      <port>{server.port}</port>",
            f"      <socketType>{'SSL' if server.tls == 'tls' else 'STARTTLS'}</socketType>",
            "      <authentication>password-cleartext</authentication>",
            "      <username>%EMAILADDRESS%</username>",
            f"    </{tag}>",
        ]
    lines.append("  </emailProvider>")
    base = dav_base(settings)
    if base is not None:  # siblings of emailProvider: Thunderbird adds the address book and calendar
        for tag, kind in (("addressBook", "carddav"), ("calendar", "caldav")):
            lines += [
                f'  <{tag} type="{kind}">',
                "    <username>%EMAILADDRESS%</username>",
                '    <authentication system="http">basic</authentication>',
                f"    <serverURL>{escape(base)}</serverURL>",
                f"  </{tag}>",
            ]
    lines += ["</clientConfig>", ""]
    return "\n".join(lines)


def outlook_autodiscover(settings: Settings, address: str | None = None) -> str:
    """The POX autodiscover response (Outlook 2007 and later, POST /autodiscover/autodiscover.xml).
    Without `address` (the static file) Outlook uses the address it was given as the login."""
    host = escape(settings.main.fqdn)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Autodiscover xmlns="{_POX_RESPONSE}">',
        f'  <Response xmlns="{_POX_OUTLOOK}">',
        "    <Account>",
        "      <AccountType>email</AccountType>",
        "      <Action>settings</Action>",
    ]
    for server in servers(settings):
        lines += [
            "      <Protocol>",
            f"        <Type>{server.protocol.upper()}</Type>",
            f"        <Server>{host}</Server>",
            f"        <Port>{server.port}</Port>",
            "        <DomainRequired>off</DomainRequired>",
        ]
        if address:
            lines.append(f"        <LoginName>{escape(address)}</LoginName>")
        lines += [
            "        <SPA>off</SPA>",
            # Encryption overrides SSL where Outlook knows it: SSL = implicit TLS, TLS = STARTTLS.
            "        <SSL>on</SSL>",
            f"        <Encryption>{'SSL' if server.tls == 'tls' else 'TLS'}</Encryption>",
            "        <AuthRequired>on</AuthRequired>",
        ]
        if server.protocol == "smtp":
            lines.append("        <UsePOPAuth>on</UsePOPAuth>")
        lines.append("      </Protocol>")
    lines += ["    </Account>", "  </Response>", "</Autodiscover>", ""]
    return "\n".join(lines)


def _pick(found: list[Server], protocol: str) -> Server | None:
    return next((s for s in found if s.protocol == protocol), None)


def apple_profile(settings: Settings, address: str, *, password: str | None = None) -> bytes:
    """An Apple configuration profile (.mobileconfig, iOS and macOS) with one mail account, and its
    CalDAV and CardDAV accounts when features.dav is on.

    No password inside unless one is given (then the device stores it for every account). The
    identifiers are derived from the address and the host, so installing a newer profile replaces the
    older one instead of adding a second account."""
    found = servers(settings)
    incoming = _pick(found, "imap") or _pick(found, "pop3")
    outgoing = _pick(found, "smtp")
    if incoming is None or outgoing is None:
        from secumail.errors import InputError

        raise InputError("no profile: IMAP/POP3 or submission is turned off (mailserver.ports)")
    fqdn = settings.main.fqdn
    ident = ".".join(reversed(fqdn.split("."))) + ".mail." + address.replace("@", ".at.")
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": ident + ".account",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"account.{address}.{fqdn}")).upper(),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP" if incoming.protocol == "imap" else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerHostName": fqdn,
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,  # with a STARTTLS port: upgrade; TLS either way
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": fqdn,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    if password:
        account["IncomingPassword"] = password
    payloads = [account, *_dav_payloads(settings, address, ident, password)]
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": ident,
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"profile.{address}.{fqdn}")).upper(),
        "PayloadDisplayName": f"Mail: {address}",
        "PayloadDescription": f"The mail account {address} on {fqdn}.",
        "PayloadOrganization": settings.main.domain,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=False)


def _dav_payloads(settings: Settings, address: str, ident: str, password: str | None) -> list[dict]:
    """The com.apple.caldav.account and com.apple.carddav.account payloads ([] when features.dav is off)."""
    principal = dav_principal(settings, address)
    if principal is None:
        return []
    fqdn = settings.main.fqdn
    out = []
    for kind, prefix, what in (("caldav", "CalDAV", "Calendars"), ("carddav", "CardDAV", "Contacts")):
        payload = {
            "PayloadType": f"com.apple.{kind}.account",
            "PayloadVersion": 1,
            "PayloadIdentifier": f"{ident}.{kind}",
            "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}.{address}.{fqdn}")).upper(),
            "PayloadDisplayName": f"{what}: {address}",
            f"{prefix}AccountDescription": f"{what} of {address}",
            f"{prefix}HostName": fqdn,
            f"{prefix}Port": settings.ports.dav,
            f"{prefix}UseSSL": True,
            f"{prefix}Username": address,
            f"{prefix}PrincipalURL": principal,
        }
        if password:
            payload[f"{prefix}Password"] = password
        out.append(payload)
    return out


def autoconfig_files(settings: Settings, domain: str) -> dict[str, str]:
    """Path below data_path/autoconfig/<domain>/ → content, for the web server of autoconfig.<domain>
    and autodiscover.<domain>."""
    config = thunderbird_autoconfig(settings, domain)
    discover = outlook_autodiscover(settings)
    return {**dict.fromkeys(AUTOCONFIG_PATHS, config), **dict.fromkeys(AUTODISCOVER_PATHS, discover)}
