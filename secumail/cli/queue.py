"""mailctl queue: the Postfix queue inside the container."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import group, operation, table


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "queue", "list, flush or delete queued mail")
    operation(cmds, "list", "queue.list", "list queued messages", text=_list_text)
    operation(cmds, "flush", "queue.flush", "retry delivery of every queued message now", text=lambda d: d["message"])
    p = operation(cmds, "delete", "queue.delete", "delete one queued message", text=_deleted_text)
    p.add_argument("queue_id")
    operation(cmds, "delete-all", "queue.delete-all", "delete every queued message", text=_deleted_text)


def _list_text(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "recipients": ",".join(row["recipients"])} for row in rows]
    return table(shown, ["queue_id", "queue", "size", "sender", "recipients", "reason"])


def _deleted_text(data: dict[str, Any]) -> str:
    return f"deleted {data['deleted']} message(s)"
