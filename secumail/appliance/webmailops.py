"""The webmail operations (mailctl webmail …): the container in secumail.appliance.webmail, the UCI
switch webmail.enabled (what fw4 forwards) kept in step with it."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call, Reported


def _set_enabled(call: Call, enabled: bool) -> None:
    from secumail.config.uci_paths import set_value

    if call.settings.webmail.enabled != enabled:
        set_value(call.confdir, "mailserver.webmail.enabled", "1" if enabled else "0")
        call.reload()


def install(call: Call) -> dict[str, Any]:
    from secumail.appliance import webmail

    _set_enabled(call, True)
    return webmail.install(call.settings, call.progress)


def configure(call: Call) -> dict[str, Any]:
    from secumail.appliance import webmail

    call.progress("writing the Roundcube configuration")
    return webmail.configure(call.settings)


def status(call: Call, user: str | None, password: str | None) -> Any:
    """Exit 1 when the container does not run or a check fails."""
    from secumail.appliance import webmail

    data = webmail.status(call.settings, user, password)
    checks = [data[name] for name in ("http", "imap_tls", "login") if data[name] is not None]
    if data["state"] != "RUNNING" or not all(check["ok"] for check in checks):
        return Reported(data, 1, "webmail: not working")
    return data


def remove(call: Call, purge: bool) -> dict[str, Any]:
    from secumail.appliance import host, webmail

    result = webmail.remove(call.settings, purge)
    _set_enabled(call, False)
    host.sync_firewall(call.settings)
    return result
