"""DNS operations: publish the domain's records through the provider, check what is published."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call, Reported


def dns_setup(call: Call, domain: str | None, dry_run: bool, force: bool) -> Any:
    from secumail.dns.setup import setup

    result = setup(call.settings, domain, dry_run=dry_run, force=force)
    return Reported(result) if result["conflicts"] else result


def dns_check(call: Call, domain: str | None) -> Any:
    from secumail.dns.check import check

    result = check(call.settings, domain)
    return result if result["ok"] else Reported(result)
