"""mailctl mesh: encrypted backups pulled by pinned mesh peers."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, command, group, pending, table

MESH = "mesh backup (encrypted repository and peer sync)"


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "mesh", "encrypted backups to and from mesh peers")
    p = command(cmds, "backup", pending(MESH), "take a snapshot of mail, accounts, keys and config")
    p.add_argument("--file", metavar="FILE", help="write a single-file export instead")
    p = command(cmds, "restore", pending(MESH), "restore a snapshot or a single-file export")
    p.add_argument("source", nargs="?", metavar="SNAPSHOT|FILE")
    p.add_argument("--from", dest="from_node", metavar="NODE_ID", help="a peer's copy of our backups")
    p.add_argument("--target", metavar="DIR", help="restore into DIR instead of data_path")
    sync = command(cmds, "sync", pending(MESH), "push our backups to peers, or pull theirs")
    sync.add_argument("direction", choices=("push", "pull"))
    p = command(cmds, "add-peer", pending(MESH), "pin a peer by node id")
    p.add_argument("node_id")
    p.add_argument("address", nargs="?", metavar="HOST[:PORT]")
    p = command(cmds, "remove-peer", pending(MESH), "unpin a peer")
    p.add_argument("node_id")
    command(cmds, "peers", peers, "list pinned peers", text=_peers_text)
    command(cmds, "id", pending(MESH), "show this node's id")
    command(cmds, "enable", enable, "enable automatic backup and sync", text=lambda data: data["message"])
    command(cmds, "disable", disable, "disable automatic backup and sync", text=lambda data: data["message"])


def peers(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = ctx.settings
    rows = [{"name": p.name, "node_id": p.node_id, "address": p.address, "port": p.port} for p in settings.peers]
    pinned = {p.node_id for p in settings.peers}
    rows.extend(
        {"name": "", "node_id": node, "address": "", "port": settings.mesh.port}
        for node in settings.mesh.backup_peers
        if node not in pinned
    )
    return rows


def _peers_text(rows: list[dict[str, Any]]) -> str:
    return table(rows, ["name", "node_id", "address", "port"])


def _set_enabled(ctx: Context, enabled: bool) -> dict[str, Any]:
    from secumail.config.uci_paths import set_value

    set_value(ctx.confdir, "mailserver.mesh.enabled", "1" if enabled else "0")
    word = "enabled" if enabled else "disabled"
    return {"result": "ok", "enabled": enabled, "message": f"mesh backup {word}"}


def enable(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    return _set_enabled(ctx, True)


def disable(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    return _set_enabled(ctx, False)
