"""mailctl config get|set|show: UCI access with validation, for hosts without the `uci` CLI."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import group, operation


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "config", "read and change /etc/config/mailserver (validated before it is saved)")
    p = operation(cmds, "get", "config.get", "print one value: mailctl config get mailserver.main.domain",
                  text=_value_text)
    p.add_argument("path", help="mailserver.SECTION.OPTION (or mailserver.SECTION for its type)")
    p = operation(cmds, "set", "config.set", "validate and save one value (empty value deletes the option)",
                  text=lambda data: "")
    p.add_argument("path", help="mailserver.SECTION.OPTION, or PATH=VALUE")
    p.add_argument("value", nargs="*", help="the value; several values make a UCI list")
    p = operation(cmds, "show", "config.show", "print the config as `uci show` does", text=_show_text)
    p.add_argument("path", nargs="?", default="mailserver", help="mailserver[.SECTION[.OPTION]]")


def _show_text(data: Any) -> str:
    from secumail.config.uci_paths import show_lines

    return "\n".join(show_lines(data))


def _value_text(data: Any) -> str:
    value = data["value"]
    return " ".join(value) if isinstance(value, list) else str(value)
