"""MTA-STS and DANE in the mail container (docs/mta-sts.md).

Inbound: with dns.mta_sts testing or enforce, the container's web server (secumail.mail.webserve)
serves our policy files (data_path/mta-sts, written by dns-setup with the `_mta-sts` TXT whose id
follows them) at https://mta-sts.<domain>/.well-known/mta-sts.txt, with the appliance's certificate
(its names include mta-sts.<domain>, secumail.certs.paths). Outbound: features.mta_sts_outbound
runs postfix-mta-sts-resolver, which Postfix asks for the TLS policy of each destination
(socketmap); features.dane makes Postfix use DANE where the container's resolver validates DNSSEC.

Pure like render.py: settings in, the resolver's config and main.cf lines out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

RESOLVER = ("127.0.0.1", 8461)  # postfix-mta-sts-resolver's socketmap, on the container's loopback
POLICY_MAP = f"socketmap:inet:{RESOLVER[0]}:{RESOLVER[1]}:postfix"
WELL_KNOWN = "/.well-known/mta-sts.txt"


def serving(settings: Settings) -> bool:
    """Whether the container's web server serves our policies (dns.mta_sts is testing or enforce)."""
    return settings.dns.mta_sts != "none"


def policy_host(domain: str) -> str:
    """The name senders fetch `domain`'s policy from (RFC 8461 3.3)."""
    return f"mta-sts.{domain}"


def policy_maps(settings: Settings) -> list[str]:
    """Postfix smtp_tls_policy_maps entries of MTA-STS (after the relays' own table)."""
    return [POLICY_MAP] if settings.features.mta_sts_outbound else []


def main_cf(settings: Settings) -> str:
    """main.cf lines for outbound DANE beside the security level ('' when features.dane is off)."""
    if not settings.features.dane:
        return ""
    return ("# DANE (features.dane, smtp_tls_security_level dane): TLSA records of DNSSEC-signed destinations\n"
            "# are enforced, the others get opportunistic TLS as without DANE. Needs a validating resolver.\n"
            "smtp_dns_support_level = dnssec\n")  # fmt: skip


def outbound_level(settings: Settings) -> str:
    """smtp_tls_security_level: 'dane' with features.dane, else opportunistic TLS ('may')."""
    return "dane" if settings.features.dane else "may"


def _resolver_conf() -> str:
    host, port = RESOLVER
    return f"""# postfix-mta-sts-resolver for secumail (features.mta_sts_outbound): Postfix's TLS policy socketmap.
host: {host}
port: {port}
reuse_port: true
shutdown_timeout: 5
cache:
  type: internal
  options:
    cache_size: 1000
default_zone:
  strict_testing: false
  timeout: 4
"""


def files(settings: Settings) -> dict[str, tuple[str, int]]:
    """The resolver's config while checking others' policies."""
    if not settings.features.mta_sts_outbound:
        return {}
    return {"mta-sts/mta-sts-daemon.yml": (_resolver_conf(), 0o644)}


def reload_block(settings: Settings, fill: Any, template: Any) -> str:
    """Start, restart or stop the resolver as the settings say (render passes fill/template)."""
    check = "mtasts-resolver.sh" if settings.features.mta_sts_outbound else "mtasts-resolver-off.sh"
    return fill(template(check), {"resolver_port": RESOLVER[1]}).rstrip("\n")
