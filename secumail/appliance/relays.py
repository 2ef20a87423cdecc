"""Smarthost operations: `config relay` sections with their password files, and the login test.

UCI holds everything but the password (secumail.mail.relay keeps that in data_path/relay, 0600).
A change is saved only when the whole config stays valid (secumail.config.uci_paths.change), then the
mail config is rendered again and, when the mail server is installed, made live.
"""

from __future__ import annotations

import contextlib
from typing import Any

from secumail.appliance.operations import Call, Reported
from secumail.errors import InputError, SecumailError


def _find(call: Call, name: str) -> Any:
    relay = next((r for r in call.settings.relays if r.name == name), None)
    if relay is None:
        raise InputError(f"no relay named {name!r} (see 'mailctl relay list')")
    return relay


def _apply(call: Call) -> bool:
    """Make the changed relays live when the mail server has a config already; True when it did."""
    from secumail.appliance import lifecycle
    from secumail.mail import deploy

    call.reload()
    if deploy.live_generation(call.settings.main.data_path) is None:
        return False  # not installed: 'mailctl install' renders them
    call.progress("rendering the mail configuration")
    lifecycle.configure(call.settings)
    return True


def _row(relay: Any, data_path: str) -> dict[str, Any]:
    import os

    from secumail.config.layout import DataLayout

    return {"name": relay.name, "host": relay.host, "port": relay.port, "tls": relay.tls, "verify": relay.verify,
            "user": relay.user, "sender_domain": list(relay.sender_domain), "default": not relay.sender_domain,
            "password_stored": os.path.isfile(DataLayout(data_path).relay_password(relay.name))}


def add(call: Call, name: str, host: str, *, port: int | None, tls: str, user: str,
        sender_domain: list[str] | None, no_verify: bool, password: str) -> dict[str, Any]:
    """Add or replace `config relay '<name>'` and store its password; all or nothing."""
    from secumail.config import validate
    from secumail.config.settings import PACKAGE
    from secumail.config.uci_paths import change, claim_section_name
    from secumail.mail import outbound
    from secumail.mail import relay as secrets

    if not validate.RELAY_NAME.fullmatch(name):
        raise InputError(f"relay name {name!r}: letters, digits and '_' only, at most 32")
    claim_section_name(call.confdir, name, "relay")
    secrets.check_password(password)
    data_path = call.settings.main.data_path
    if port is None:
        port = 465 if tls == "tls" else 587
    prefix = f"{PACKAGE}.{name}"
    changes: list[tuple[str, Any]] = [
        (prefix, None), (prefix, "relay"), (f"{prefix}.host", host), (f"{prefix}.port", str(port)),
        (f"{prefix}.tls", tls), (f"{prefix}.verify", "0" if no_verify else "1"), (f"{prefix}.user", user),
        (f"{prefix}.sender_domain", tuple(sender_domain) if sender_domain else None),
    ]
    try:
        previous: str | None = secrets.read_password(data_path, name)
    except SecumailError:
        previous = None  # a new relay
    secrets.write_password(data_path, name, password)
    try:
        change(call.confdir, changes)  # validated with the whole package before it is saved
    except BaseException:
        if previous is None:
            secrets.delete_password(data_path, name)
        else:
            secrets.write_password(data_path, name, previous)
        raise
    outbound.forget_relay_test(data_path, name)  # an old result says nothing about the new settings
    applied = _apply(call)
    return {**_row(_find(call, name), data_path), "applied": applied}


def delete(call: Call, name: str) -> dict[str, Any]:
    from secumail.config.settings import PACKAGE
    from secumail.config.uci_paths import change
    from secumail.mail import outbound
    from secumail.mail import relay as secrets

    _find(call, name)
    data_path = call.settings.main.data_path
    change(call.confdir, [(f"{PACKAGE}.{name}", None)])
    secrets.delete_password(data_path, name)
    outbound.forget_relay_test(data_path, name)
    return {"name": name, "deleted": True, "applied": _apply(call)}


def list_(call: Call) -> list[dict[str, Any]]:
    data_path = call.settings.main.data_path
    return [_row(relay, data_path) for relay in call.settings.relays]


def test(call: Call, name: str | None, timeout: float) -> Any:
    """Log in to one relay (or every one) with the stored password; Reported when any login fails."""
    from secumail.mail import outbound
    from secumail.mail import relay as secrets
    from secumail.mail.relaytest import probe

    relays = [_find(call, name)] if name else list(call.settings.relays)
    if not relays:
        raise InputError("no relay configured (see 'mailctl relay add --help')")
    data_path = call.settings.main.data_path
    results = []
    for relay in relays:
        result = probe(relay, secrets.read_password(data_path, relay.name), helo=call.settings.main.fqdn,
                       timeout=timeout)
        results.append({"name": result.relay, "ok": result.ok, "stage": result.stage, "message": result.message})
        with contextlib.suppress(OSError):  # kept for `mailctl status` and dns-check; the result stands without
            outbound.record_relay_test(data_path, relay.name, ok=result.ok, message=result.message)
    failed = [r for r in results if not r["ok"]]
    if failed:
        return Reported(results, message=failed[0]["message"])
    return results
