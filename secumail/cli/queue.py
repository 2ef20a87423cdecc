"""mailctl queue: the Postfix queue inside the container."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, group, pending

QUEUE = "queue management (the mail container)"


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "queue", "list, flush or delete queued mail")
    command(cmds, "list", pending(QUEUE), "list queued messages")
    command(cmds, "flush", pending(QUEUE), "retry delivery of every queued message now")
    p = command(cmds, "delete", pending(QUEUE), "delete one queued message")
    p.add_argument("queue_id")
    command(cmds, "delete-all", pending(QUEUE), "delete every queued message")
