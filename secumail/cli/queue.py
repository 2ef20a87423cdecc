"""mailctl queue: the Postfix queue inside the container."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, command, group, table


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "queue", "list, flush or delete queued mail")
    command(cmds, "list", queue_list, "list queued messages", text=_list_text)
    command(cmds, "flush", flush, "retry delivery of every queued message now", text=lambda d: d["message"])
    p = command(cmds, "delete", delete, "delete one queued message", text=_deleted_text)
    p.add_argument("queue_id")
    command(cmds, "delete-all", delete_all, "delete every queued message", text=_deleted_text)


def queue_list(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.queue_list(ctx.settings)


def flush(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.queue_flush(ctx.settings)


def delete(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.queue_delete(ctx.settings, args.queue_id)


def delete_all(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.container import service

    return service.queue_delete(ctx.settings, "ALL")


def _list_text(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "recipients": ",".join(row["recipients"])} for row in rows]
    return table(shown, ["queue_id", "queue", "size", "sender", "recipients", "reason"])


def _deleted_text(data: dict[str, Any]) -> str:
    return f"deleted {data['deleted']} message(s)"
