"""Account operations: the mail layer's account functions with the running container handed in."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call


def _runtime(call: Call) -> Any:
    from secumail.appliance.ownership import ContainerRuntime

    return ContainerRuntime(call.settings)


def domain_add(call: Call, domain: str) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.domain_add(call.settings, domain, runtime=_runtime(call))


def domain_del(call: Call, domain: str, force: bool) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.domain_del(call.settings, domain, force=force, runtime=_runtime(call))


def domain_list(call: Call) -> list[dict[str, Any]]:
    from secumail.mail import accounts

    return accounts.domain_list(call.settings)


def user_add(call: Call, address: str, password: str, quota: str | None) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.user_add(call.settings, address, password, quota=quota, runtime=_runtime(call))


def user_del(call: Call, address: str, purge: bool) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.user_del(call.settings, address, purge=purge, runtime=_runtime(call))


def user_list(call: Call) -> list[dict[str, Any]]:
    from secumail.mail import accounts

    return accounts.user_list(call.settings)


def user_passwd(call: Call, address: str, password: str) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.user_passwd(call.settings, address, password, runtime=_runtime(call))


def user_quota(call: Call, address: str, size: str) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.user_quota(call.settings, address, size, runtime=_runtime(call))


def app_password_add(call: Call, address: str, name: str, scope: str | None) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.app_password_add(call.settings, address, name, scope=scope, runtime=_runtime(call))


def app_password_list(call: Call, address: str | None) -> list[dict[str, Any]]:
    from secumail.mail import accounts

    return accounts.app_password_list(call.settings, address)


def app_password_del(call: Call, address: str, name: str) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.app_password_del(call.settings, address, name, runtime=_runtime(call))


def user_profile(call: Call, address: str, app_password: str | None, file: str | None) -> dict[str, Any]:
    """The profile as text, or written to `file` (0600 when it holds a password)."""
    import os

    from secumail.errors import InputError
    from secumail.mail import accounts
    from secumail.system.files import atomic_write

    if file is not None and not os.access(os.path.dirname(os.path.abspath(file)), os.W_OK):
        # checked first: an app password made for a file that cannot be written would be lost
        raise InputError(f"{file}: cannot write in {os.path.dirname(os.path.abspath(file))}; nothing was changed")
    data = accounts.user_profile(call.settings, address, app_password=app_password, runtime=_runtime(call))
    if file is None:
        return data
    atomic_write(file, data["profile"], mode=0o600 if app_password else 0o644)
    return {"address": data["address"], "app_password": app_password, "written": os.path.abspath(file)}


def alias_add(call: Call, source: str, destinations: list[str]) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.alias_add(call.settings, source, destinations, runtime=_runtime(call))


def alias_del(call: Call, source: str) -> dict[str, Any]:
    from secumail.mail import accounts

    return accounts.alias_del(call.settings, source, runtime=_runtime(call))


def alias_list(call: Call) -> list[dict[str, Any]]:
    from secumail.mail import accounts

    return accounts.alias_list(call.settings)
