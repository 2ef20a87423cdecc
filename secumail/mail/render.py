"""Postfix, Dovecot and OpenDKIM config (and the container's start/reload scripts) from Settings.

`render_all` is pure: Settings + domains in, {relative path: (content, mode)}
out. The files form one *generation*: a directory that the container sees at
`generation` (a path inside the container) and that references its own
tables and scripts there, so what is checked is exactly what goes live.
Paths are the container's: the mounted parts of data_path appear below
/srv/mailserver (secumail.mail.layout).

Templates use `{{name}}` placeholders (Postfix's `$name` and Dovecot's braces
stay literal); an unknown placeholder is a bug and raises.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from secumail.mail import apppasswords, dav, lightpath, mtasts, ratelimit, roles, spam, virus, webserve
from secumail.mail.layout import CONTAINER_DATA

if TYPE_CHECKING:
    from secumail.config.settings import Settings

VMAIL_UID = 5000
VMAIL_GID = 5000
MILTER_SOCKET = "/var/spool/postfix/opendkim/opendkim.sock"  # Postfix joins group opendkim to use it
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")

Files = dict[str, tuple[str, int]]


def _template(name: str) -> str:
    return resources.files("secumail.mail").joinpath("templates", name).read_text(encoding="utf-8")


def fill(text: str, values: dict[str, Any]) -> str:
    def one(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return _PLACEHOLDER.sub(one, text)


def dkim_selectors(settings: Settings, domains: list[str]) -> list[tuple[str, str]]:
    """(domain, selector) pairs that sign: the RSA selector, plus '<selector>-ed' when ed25519 is on."""
    if not settings.features.dkim:
        return []
    from secumail.mail.dkim import ed25519_selector

    pairs = []
    for domain in domains:
        pairs.append((domain, settings.dkim.selector))
        if settings.dkim.ed25519:
            pairs.append((domain, ed25519_selector(settings.dkim.selector)))
    return pairs


def _submission(name: str, port: int, wrapper: bool, milters: str, user_limit: str) -> str:
    if not port:
        return ""
    return fill(_template("submission.master"), {
        "port": port, "name": name,
        "wrapper": "  -o smtpd_tls_wrappermode=yes\n" if wrapper else "",
        "milters": milters,
        "user_limit": user_limit,
    })


def _host_network(settings: Settings) -> bool:
    """The container shares the router's network namespace: its loopback is the router's, where
    every local process (and whatever a port forward brings in) connects from."""
    return settings.container.network_mode == "host"


def postscreen_on(settings: Settings) -> bool:
    """postscreen fronts port 25 when there is a DNS blocklist to ask."""
    return bool(settings.ports.smtp and settings.protection.dnsbl)


def _smtp_service(settings: Settings) -> str:
    port = settings.ports.smtp
    if not port:
        return ""
    if not postscreen_on(settings):
        return f"{port}      inet  n       -       n       -       -       smtpd\n"
    return (f"{port}      inet  n       -       n       -       1       postscreen\n"
            "smtpd     pass  -       -       n       -       -       smtpd\n"
            "dnsblog   unix  -       -       n       -       0       dnsblog\n"
            "tlsproxy  unix  -       -       n       -       0       tlsproxy\n")


def _postscreen(settings: Settings, values: dict[str, Any]) -> tuple[str, Files]:
    """The main.cf block and the access table; ('', {}) when postscreen is off."""
    if not postscreen_on(settings):
        return "", {}
    block = fill(_template("postscreen.cf"), {
        **values,
        "dnsbl_sites": ", ".join(settings.protection.dnsbl),
        "dnsbl_threshold": settings.protection.dnsbl_threshold,
    })
    if _host_network(settings):
        access = "# none: the router's own addresses are the Internet's too here (network_mode host)\n"
    else:  # the router itself (its daemons, hairpin NAT from the LAN) is not a spambot to test
        access = f"{settings.container.host_address.ip}/32 permit\n"
    return block, {"postfix/postscreen_access.cidr": (access, 0o644)}


RELAY_TLS_TRANSPORT = "relaytls"  # smtp client in TLS-wrapper mode (port 465) for `tls 'tls'` relays
RELAY_TLS_SERVICE = (f"{RELAY_TLS_TRANSPORT} unix  -       -       n       -       -       smtp\n"
                     "  -o smtp_tls_wrappermode=yes\n  -o smtp_tls_security_level=encrypt\n"
                     "  -o syslog_name=postfix/$service_name\n")


def _relay_postfix(settings: Settings, values: dict[str, Any]) -> tuple[str, Files]:
    """main.cf lines and table files for the smarthosts (`config relay`); ('', {}) without any.

    STARTTLS relays are Postfix's relayhost / sender_dependent_relayhost_maps. A TLS-wrapper relay needs
    its own transport, which only default_transport / sender_dependent_default_transport_maps can name:
    once any relay uses it, every relay goes through those two (they take precedence over relayhost).
    The TLS policy map requires TLS toward each relay (encrypt, or secure when verify is on), and SASL
    is only ever offered over that TLS (noplaintext outside it; smtp_sasl_tls_security_options inside).
    """
    relays = settings.relays
    if not relays:
        return "", {}
    from secumail.mail.relay import CONTAINER_MAP

    generation = values["generation"]
    default = settings.default_relay
    per_domain = [relay for relay in relays if relay.sender_domain]
    wrapper = any(relay.tls == "tls" for relay in relays)

    def transport(relay: Any) -> str:
        return f"{RELAY_TLS_TRANSPORT if relay.tls == 'tls' else 'smtp'}:{relay.nexthop}"

    files: Files = {}
    lines = ["", "# Smarthosts (config relay): TLS required toward each, SASL only inside that TLS."]
    if wrapper:
        lines.append("relayhost =")
        if default is not None:
            lines.append(f"default_transport = {transport(default)}")
        if per_domain:
            files["postfix/relay_transport"] = (
                "".join(f"@{d} {transport(r)}\n" for r in per_domain for d in r.sender_domain), 0o644)
            lines.append(f"sender_dependent_default_transport_maps = texthash:{generation}/postfix/relay_transport")
    else:
        lines.append(f"relayhost = {default.nexthop if default is not None else ''}".rstrip())
        if per_domain:
            files["postfix/relay_senders"] = (
                "".join(f"@{d} {r.nexthop}\n" for r in per_domain for d in r.sender_domain), 0o644)
            lines.append(f"sender_dependent_relayhost_maps = texthash:{generation}/postfix/relay_senders")
    policy = {}
    for relay in relays:
        policy.setdefault(relay.nexthop, "secure" if relay.verify else "encrypt")
    files["postfix/relay_tls"] = ("".join(f"{hop} {level}\n" for hop, level in policy.items()), 0o644)
    lines += [
        "smtp_sasl_auth_enable = yes",
        f"smtp_sasl_password_maps = texthash:{CONTAINER_MAP}",
        "smtp_sasl_security_options = noanonymous, noplaintext",
        "smtp_sasl_tls_security_options = noanonymous",
        # a refused login is a temporary failure: the mail stays queued until the password is fixed
        "smtp_sasl_auth_soft_bounce = yes",
    ]
    if per_domain:
        lines.append("smtp_sender_dependent_authentication = yes")
    return "\n".join(lines) + "\n", files


def _tls_policy_maps(settings: Settings, generation: str) -> str:
    """smtp_tls_policy_maps: the relays' table first (TLS required toward each), then MTA-STS."""
    maps = [f"texthash:{generation}/postfix/relay_tls"] if settings.relays else []
    maps += mtasts.policy_maps(settings)
    return f"smtp_tls_policy_maps = {', '.join(maps)}\n" if maps else ""


def _postfix(settings: Settings, values: dict[str, Any], domains: list[str]) -> Files:
    ports = settings.ports
    relay_block, relay_files = _relay_postfix(settings, values)
    dkim = f"unix:{MILTER_SOCKET}" if settings.features.dkim else ""
    # Port 25: Rspamd alone when it runs (it checks DKIM too); OpenDKIM after it removed Rspamd's
    # Authentication-Results header. Without the filter OpenDKIM verifies there.
    if settings.features.spam_filter:
        inbound = f"unix:{spam.MILTER_SOCKET}"
    else:  # the light path's DMARC milter reads OpenDKIM's verdict: it comes after it
        inbound = ",".join(m for m in (dkim, *lightpath.milters(settings)) if m)
    # ClamAV first, on every port mail enters by SMTP: infected mail is refused before the others work.
    # (No spaces: master.cf's -o values end at a space.)
    clamav = virus.milter(settings)
    inbound = ",".join(m for m in (clamav, inbound) if m)
    outbound = ",".join(m for m in (clamav, dkim) if m)
    master = fill(_template("master.cf"), {
        "smtp_service": _smtp_service(settings),
        "submission_service": _submission("submission", ports.submission, wrapper=False, milters=outbound,
                                          user_limit=ratelimit.submission_check(settings)),
        "smtps_service": _submission("smtps", ports.smtps, wrapper=True, milters=outbound,
                                     user_limit=ratelimit.submission_check(settings)),
        "policy_services": ratelimit.master_cf(settings),
        "light_services": lightpath.master_cf(settings),
        "relay_tls_service": RELAY_TLS_SERVICE if any(r.tls == "tls" for r in settings.relays) else "",
    })
    postscreen, tables = _postscreen(settings, values)
    main = fill(_template("main.cf"), {
        **values,
        "relay_block": relay_block,
        "smtp_tls_level": mtasts.outbound_level(settings),
        "tls_policy_maps": _tls_policy_maps(settings, values["generation"]),
        "dane": mtasts.main_cf(settings),
        "message_size_limit": settings.main.message_size_limit * 1024 * 1024,
        "milters": inbound,
        "local_milters": dkim,
        "postscreen": postscreen,
        "rate_limits": ratelimit.main_cf(settings),
        "light_path": lightpath.main_cf(settings),
        "sender_restrictions": lightpath.sender_restrictions(settings, values["generation"]),
        "recipient_restrictions": lightpath.recipient_restrictions(settings, values["generation"]),
        "mynetworks": "" if _host_network(settings) else "127.0.0.0/8 [::1]/128",
        "mynetworks_why": ("The router's loopback is shared (network_mode host): nobody relays without "
                           "authentication." if _host_network(settings) else
                           "Only the container's own loopback may relay without authentication: never "
                           "the bridge."),
    })
    name = re.escape(settings.main.fqdn).replace("\\-", "-")
    checks = (f"# Authentication-Results claiming to come from this server, written by someone else\n"
              f"/^Authentication-Results:[[:space:]]*{name}([[:space:];]|$)/ IGNORE\n")  # fmt: skip
    roles_map = roles.postfix_map(domains, settings.main.postmaster_address)
    return {"postfix/main.cf": (main, 0o644), "postfix/master.cf": (master, 0o644),
            "postfix/header_checks": (checks, 0o644), "postfix/roles": (roles_map, 0o644),
            **tables, **relay_files}  # fmt: skip


def _dovecot(settings: Settings, values: dict[str, Any]) -> Files:
    ports = settings.ports
    defer = settings.main.quota_full == "defer"
    protocols = ["imap", "lmtp"]
    pop3 = ""
    if ports.pop3 or ports.pop3s:
        protocols.append("pop3")
        pop3 = fill(_template("pop3.dovecot"), {"pop3": ports.pop3, "pop3s": ports.pop3s})
    sieve = ""
    if ports.sieve:
        protocols.append("sieve")
        sieve = fill(_template("sieve.dovecot"), {"sieve": ports.sieve})
    conf = fill(_template("dovecot.conf"), {
        **values,
        "protocols": " ".join(protocols),
        "imap": ports.imap,
        "imaps": ports.imaps,
        "pop3_service": pop3,
        "sieve_service": sieve,
        "quota_full_tempfail": "yes" if defer else "no",
        "imap_sieve": " imap_sieve" if settings.features.spam_filter else "",
        "spam_plugin": spam.dovecot_plugin(settings),
        "auth_failure_delay": settings.protection.auth_failure_delay,
        "selector_chars": apppasswords.SELECTOR_CHARS,
        "dav_listener": dav.dovecot_listener(settings),
    })
    when_full = ("new mail waits on the server and is returned to its senders after 5 days" if defer
                 else "new mail is returned to its senders")
    return {
        "dovecot/dovecot.conf": (conf, 0o644),
        "dovecot/quota-warning.sh": (fill(_template("quota-warning.sh"), {**values, "when_full": when_full}),
                                     0o755),
    }


def _opendkim(settings: Settings, values: dict[str, Any], pairs: list[tuple[str, str]]) -> Files:
    if not pairs:
        return {}
    key_table = "".join(
        f"{sel}._domainkey.{dom} {dom}:{sel}:/run/opendkim/keys/{dom}/{sel}.private\n" for dom, sel in pairs
    )
    # refile patterns: '*@example.com' signs every sender address of the domain.
    signing = "".join(f"*@{dom} {sel}._domainkey.{dom}\n" for dom, sel in pairs)
    if _host_network(settings):  # the router's loopback: anything local could ask for a signature
        trusted = "# none: only authenticated submissions are signed (network_mode host)\n"
    else:
        trusted = "127.0.0.1\n::1\nlocalhost\n"
    conf = fill(_template("opendkim.conf"), {**values, "milter_socket": MILTER_SOCKET})
    return {
        "opendkim/opendkim.conf": (conf, 0o644),
        "opendkim/KeyTable": (key_table, 0o644),
        "opendkim/SigningTable": (signing, 0o644),
        "opendkim/TrustedHosts": (trusted, 0o644),
    }


def _scripts(settings: Settings, values: dict[str, Any], pairs: list[tuple[str, str]]) -> Files:
    if pairs:
        copies = "".join(
            f'install -D -o opendkim -g opendkim -m 0600 "$DATA/dkim/{dom}/{sel}.private" '
            f'"/run/opendkim/keys/{dom}/{sel}.private"\n'
            for dom, sel in pairs
        )
        dkim_block = fill(_template("dkim-reload.sh"), {"key_copies": copies.rstrip("\n")})
    else:
        dkim_block = _template("dkim-off.sh")
    return {
        "container/start": (fill(_template("start.sh"), {
            **values, "and_opendkim": " and OpenDKIM" if pairs else ""}), 0o755),
        "container/stop": (_template("stop.sh"), 0o755),
        "container/reload": (fill(_template("reload.sh"), {
            **values, "dkim_block": dkim_block.rstrip("\n"), "ratelimit_block": ratelimit.reload_block(settings),
            "spam_block": spam.reload_block(settings, fill, _template),
            "light_block": lightpath.reload_block(settings, fill, _template),
            "virus_block": virus.reload_block(settings, fill, _template),
            "mtasts_block": mtasts.reload_block(settings, fill, _template),
            "web_block": webserve.reload_block(settings, _template),
            "dav_block": dav.reload_block(settings, fill, _template)}), 0o755),
    }


def render_all(settings: Settings, domains: list[str], generation: str = CONTAINER_DATA + "/config/live") -> Files:
    """Every config file of one generation: {path relative to the generation dir: (content, mode)}."""
    domains = sorted(set(domains) | {settings.main.domain})
    values = {
        "data": CONTAINER_DATA,
        "generation": generation.rstrip("/"),
        "fqdn": settings.main.fqdn,
        "domain": settings.main.domain,
        "postmaster": settings.main.postmaster_address,
        "uid": VMAIL_UID,
        "gid": VMAIL_GID,
    }
    pairs = dkim_selectors(settings, domains)
    files: Files = {}
    files.update(_postfix(settings, values, domains))
    files.update(_dovecot(settings, values))
    files.update(_opendkim(settings, values, pairs))
    files.update(_scripts(settings, values, pairs))
    files.update(spam.files(settings, fill, _template))
    files.update(virus.files(settings, fill, _template))
    files.update(mtasts.files(settings))
    files.update(webserve.files(settings, values, domains))
    files.update(ratelimit.files(settings, _template))
    files.update(lightpath.files(settings, fill, _template, values))
    files.update(dav.files(settings, fill, _template, values))
    return files


def container_path(settings: Settings, host_path: str) -> str:
    """The path inside the container of a host path below data_path."""
    data_path = os.path.abspath(settings.main.data_path)
    rel = os.path.relpath(os.path.abspath(host_path), data_path)
    if rel.startswith(".."):
        raise ValueError(f"{host_path} is not below data_path {data_path}")
    return CONTAINER_DATA if rel == "." else f"{CONTAINER_DATA}/{rel}"


def ensure_keys(settings: Settings, domains: list[str]) -> None:
    """The DKIM keys the rendered KeyTable names must exist before OpenDKIM reads it."""
    from secumail.mail import dkim

    for domain, selector in dkim_selectors(settings, sorted(set(domains) | {settings.main.domain})):
        algorithm = "ed25519" if selector == dkim.ed25519_selector(settings.dkim.selector) else "rsa"
        dkim.ensure_key(settings.main.data_path, domain, selector, bits=settings.dkim.key_bits,
                        algorithm=algorithm)
