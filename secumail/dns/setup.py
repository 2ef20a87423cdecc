"""dns-setup: desired records of the selected domains → plan → apply (what `mailctl dns-setup` runs)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from secumail.dns import local
from secumail.dns.plan import apply_plan, make_plan, state_lock
from secumail.dns.providers.base import get_provider
from secumail.dns.records import desired_records, mta_sts_policy

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)


def ensure_dkim_keys(settings: Settings, domains: list[str]) -> None:
    from secumail.mail import dkim

    for domain in domains:
        for selector in local.dkim_selectors(settings):
            algorithm = "rsa" if selector == settings.dkim.selector else "ed25519"
            dkim.ensure_key(settings.main.data_path, domain, selector, bits=settings.dkim.key_bits, algorithm=algorithm)


def write_mta_sts_policies(settings: Settings, domains: list[str]) -> list[str]:
    """data_path/mta-sts/<domain>/.well-known/mta-sts.txt for whoever serves https://mta-sts.<domain>/."""
    from secumail.system.files import atomic_write

    if settings.dns.mta_sts == "none":
        return []
    paths = []
    for domain in domains:
        path = settings.layout.mta_sts_policy(domain)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, mta_sts_policy(settings, domain))
        paths.append(path)
    return paths


def write_autoconfig_files(settings: Settings, domains: list[str]) -> list[str]:
    """data_path/autoconfig/<domain>/...: what autoconfig.<domain> and autodiscover.<domain> serve
    (dns.autoconfig publishes those names; the files list the servers the SRV records name)."""
    from secumail.mail.clientconfig import autoconfig_files
    from secumail.system.files import atomic_write

    if not settings.dns.autoconfig:
        return []
    paths = []
    for domain in domains:
        root = settings.layout.autoconfig(domain)
        for relative, content in autoconfig_files(settings, domain).items():
            path = os.path.join(root, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, content)
            paths.append(path)
    return paths


def setup(
    settings: Settings, domain: str | None = None, dry_run: bool = False, force: bool = False, provider: Any = None
) -> dict[str, Any]:
    domains = local.select_domains(settings, domain)
    provider = provider or get_provider(settings.dns)
    if not dry_run:
        ensure_dkim_keys(settings, domains)
    with state_lock(settings.main.data_path):
        return _plan_and_apply(settings, domains, domain=domain, dry_run=dry_run, force=force, provider=provider)


def _plan_and_apply(
    settings: Settings, domains: list[str], *, domain: str | None, dry_run: bool, force: bool, provider: Any
) -> dict[str, Any]:
    keys = local.gather_all(settings, domains)
    rrsets = [rr for domain in domains for rr in desired_records(settings, domain, keys[domain])]
    keep = set(domains) | {settings.main.fqdn} if domain else None
    plan = make_plan(provider, rrsets, settings.main.data_path, force=force, keep_names=keep)
    result: dict[str, Any] = {
        "provider": provider.describe(),
        "domains": domains,
        "dry_run": dry_run,
        **plan.to_dict(),
        "zone_lines": None,
        "mta_sts_policies": [],
        "autoconfig_files": [],
    }
    if dry_run:
        missing = [d for d in domains if local.missing_dkim(settings, keys[d])]
        if missing:
            result["notes"].append(f"DKIM keys for {', '.join(missing)} will be created when run without --dry-run")
    if getattr(provider, "prints_only", False):
        result["zone_lines"] = [
            line for cs in plan.changes.values() for c in cs if c.new for line in c.new.zone_lines()
        ]
        return result
    if dry_run:
        return result
    apply_plan(provider, plan, settings.main.data_path)
    result["mta_sts_policies"] = write_mta_sts_policies(settings, domains)
    result["autoconfig_files"] = write_autoconfig_files(settings, domains)
    result["requests"] = provider.requests
    return result


ADDRESS_TYPES = {"A", "AAAA"}


def update_addresses(settings: Settings, ipv4: str, *, ipv6: str | None = None, provider: Any = None) -> dict[str, Any]:
    """The DNS plan for the mail host's A/AAAA only (what secumaild runs when the WAN address changed).

    MX, TXT, DKIM and the other records are neither read nor touched. `ipv6`: the AAAA value
    learnt from the WAN (dns.public_ipv6 'wan'); None takes a fixed dns.public_ipv6, and with
    'wan' leaves the AAAA record as it is (the address could not be read: a renumbering under
    way is no reason to delete it). Returns what was published before, the new addresses, the
    names and the changes; `changed` is False when the provider already held them.
    """
    from secumail.dns.records import check_name
    from secumail.errors import SecumailError

    check_name(settings.main.fqdn)
    if getattr(provider, "prints_only", False) or (provider is None and settings.dns.provider == "manual"):
        raise SecumailError("dns.provider manual cannot update the A record by itself: "
                            "choose a provider with an API (docs/dns-providers.md)")  # fmt: skip
    provider = provider or get_provider(settings.dns)
    types = set(ADDRESS_TYPES)
    if ipv6 is None and settings.dns.public_ipv6 == "wan":
        ipv6 = ""
        types.discard("AAAA")  # the WAN's address is unknown: the AAAA record stays as it is
    elif ipv6 is None:
        ipv6 = settings.dns.public_ipv6
    with state_lock(settings.main.data_path):
        return _update_addresses(settings, ipv4, ipv6, types=types, provider=provider)


def _update_addresses(settings: Settings, ipv4: str, ipv6: str, *, types: set[str], provider: Any) -> dict[str, Any]:
    from secumail.dns import wan
    from secumail.dns.records import Keys

    fqdn = settings.main.fqdn
    before = wan.published_address(settings.main.data_path, fqdn)
    before6 = wan.published_address(settings.main.data_path, fqdn, "AAAA")
    keys = Keys(ipv4=ipv4, ipv6=ipv6)
    rrsets = [rr for rr in desired_records(settings, settings.main.domain, keys) if rr.type in types]
    plan = make_plan(provider, rrsets, settings.main.data_path, keep_names={fqdn}, types=types)
    result: dict[str, Any] = {
        "from": before,
        "to": ipv4,
        "from6": before6,
        "to6": ipv6 if "AAAA" in types else before6,
        "names": sorted({rr.name for rr in rrsets}),
        "changed": not plan.empty,
        **plan.to_dict(),
    }
    if plan.conflicts:
        return result
    apply_plan(provider, plan, settings.main.data_path)
    result["requests"] = provider.requests
    return result
