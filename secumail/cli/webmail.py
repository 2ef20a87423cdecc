"""mailctl webmail status|configure: point a Roundcube container at this server."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, group, pending

WEBMAIL = "webmail integration (Roundcube container)"


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "webmail", "Roundcube integration")
    command(cmds, "status", pending(WEBMAIL), "check the Roundcube container")
    command(cmds, "configure", pending(WEBMAIL), "point Roundcube at this server")
