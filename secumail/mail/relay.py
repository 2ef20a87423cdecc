"""Smarthost credentials: one password file per `config relay` section, and Postfix's map built from them.

The password never goes through UCI, argv or a log: `mailctl relay add` reads it from stdin or a
prompt and writes data_path/relay/<name>.password (mode 0600, directory 0700). At each deploy the
SASL password map (`[host]:port user:password` and, for per-domain relays, `@domain user:password`)
is written next to it, 0600; the container's reload script installs it as
/etc/postfix/sasl/relay_passwd owned by root, mode 0600: Postfix's SMTP client opens it as root before
dropping privileges, and no other process in the container can read it.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from secumail.config.layout import DataLayout
from secumail.errors import InputError

if TYPE_CHECKING:
    from secumail.config.settings import Relay, Settings

CONTAINER_MAP = "/etc/postfix/sasl/relay_passwd"  # where the reload script installs the map


def _ensure_dir(layout: DataLayout) -> None:
    os.makedirs(layout.relay, mode=0o700, exist_ok=True)
    os.chmod(layout.relay, 0o700)


def check_password(password: str) -> str:
    """A relay password as Postfix's map can hold it: one line, no NUL, 1-1024 characters."""
    if not password or len(password) > 1024 or any(ch in password for ch in "\0\r\n"):
        raise InputError("the relay password must be 1-1024 characters on one line")
    return password


def write_password(data_path: str, name: str, password: str) -> str:
    """Store the password of relay `name` (0600); returns the file's path."""
    from secumail.system.files import atomic_write

    layout = DataLayout(data_path)
    _ensure_dir(layout)
    path = layout.relay_password(name)
    atomic_write(path, check_password(password) + "\n", mode=0o600)
    return path


def read_password(data_path: str, name: str) -> str:
    from secumail.system.files import read_secret

    return read_secret(DataLayout(data_path).relay_password(name), f"relay {name}", "run 'mailctl relay add' again")


def delete_password(data_path: str, name: str) -> bool:
    path = DataLayout(data_path).relay_password(name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def map_content(settings: Settings) -> str:
    """The SASL password map for every relay (read from the password files)."""
    lines = []
    data_path = settings.main.data_path
    for relay in settings.relays:
        secret = f"{relay.user}:{read_password(data_path, relay.name)}"
        lines.extend(f"@{domain} {secret}" for domain in relay.sender_domain)
    # per-nexthop keys after the sender keys; a host:port shared by two relays keeps the first login
    seen: set[str] = set()
    for relay in _default_first(settings):
        if relay.nexthop not in seen:
            seen.add(relay.nexthop)
            lines.append(f"{relay.nexthop} {relay.user}:{read_password(data_path, relay.name)}")
    return "".join(f"{line}\n" for line in lines)


def _default_first(settings: Settings) -> list[Relay]:
    default = settings.default_relay
    return ([default] if default else []) + [r for r in settings.relays if r is not default]


def write_map(settings: Settings) -> None:
    """Write (or, without relays, remove) data_path/relay/sasl_passwd, mode 0600."""
    from secumail.system.files import atomic_write

    layout = settings.layout
    if not settings.relays:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(layout.relay_map)
        return
    _ensure_dir(layout)
    atomic_write(layout.relay_map, map_content(settings), mode=0o600)
