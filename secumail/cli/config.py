"""mailctl config get|set|show: UCI access with validation, for hosts without the `uci` CLI."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, command, group
from secumail.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "config", "read and change /etc/config/mailserver (validated before it is saved)")
    p = command(cmds, "get", get, "print one value: mailctl config get mailserver.main.domain",
                text=_value_text)
    p.add_argument("path", help="mailserver.SECTION.OPTION (or mailserver.SECTION for its type)")
    p = command(cmds, "set", set_, "validate and save one value (empty value deletes the option)",
                text=lambda data: "")
    p.add_argument("path", help="mailserver.SECTION.OPTION, or PATH=VALUE")
    p.add_argument("value", nargs="*", help="the value; several values make a UCI list")
    p = command(cmds, "show", show, "print the config as `uci show` does", text=_show_text)
    p.add_argument("path", nargs="?", default="mailserver", help="mailserver[.SECTION[.OPTION]]")


def get(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.config import uci_paths

    return uci_paths.get_value(ctx.confdir, args.path)


def set_(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.config import uci_paths

    path, values = args.path, list(args.value)
    if not values:
        if "=" not in path:
            raise InputError(f"config set: no value given for {path!r} (use '' to delete it)")
        path, value = path.split("=", 1)
        values = [value]
    value: Any = values[0] if len(values) == 1 else tuple(values)
    uci_paths.set_value(ctx.confdir, path, value)
    ctx.reload()
    return {"result": "ok", "path": path, "value": value}


def show(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.config import uci_paths

    return uci_paths.show(ctx.confdir, args.path)


def _show_text(data: Any) -> str:
    from secumail.config.uci_paths import show_lines

    return "\n".join(show_lines(data))


def _value_text(data: Any) -> str:
    value = data["value"]
    return " ".join(value) if isinstance(value, list) else str(value)
