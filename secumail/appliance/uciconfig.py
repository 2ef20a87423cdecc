"""UCI operations with validation, for hosts without the `uci` command line."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call
from secumail.errors import InputError


def get(call: Call, path: str) -> Any:
    from secumail.config import uci_paths

    return uci_paths.get_value(call.confdir, path)


def set_(call: Call, path: str, value: list[str] | None) -> Any:
    """`path` with `value` (several values make a UCI list), or `path` as PATH=VALUE."""
    from secumail.config import uci_paths

    values = list(value or [])
    if not values:
        if "=" not in path:
            raise InputError(f"config set: no value given for {path!r} (use '' to delete it)")
        path, single = path.split("=", 1)
        values = [single]
    stored: Any = values[0] if len(values) == 1 else tuple(values)
    uci_paths.set_value(call.confdir, path, stored)
    call.reload()
    return {"result": "ok", "path": path, "value": stored}


def show(call: Call, path: str) -> Any:
    from secumail.config import uci_paths

    return uci_paths.show(call.confdir, path)
