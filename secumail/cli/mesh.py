"""mailctl mesh: encrypted backups pulled by pinned mesh peers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from secumail.cli.base import Context, group, operation, table


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "mesh", "encrypted backups to and from mesh peers")
    p = operation(
        cmds, "backup", "mesh.backup", "take a snapshot of mail, accounts, keys and config", text=_backup_text
    )
    p.add_argument("--file", metavar="FILE", help="also write a single-file export to FILE")
    p = operation(cmds, "restore", "mesh.restore", "restore a snapshot or a single-file export", text=_restore_text,
                  secrets=_recovery_key)
    p.add_argument("source", nargs="?", metavar="SNAPSHOT|FILE")
    p.add_argument("--from", dest="from_node", metavar="NODE_ID", help="a peer's copy of our backups")
    p.add_argument("--target", metavar="DIR", help="restore into DIR instead of data_path")
    p.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from stdin")
    sync = operation(cmds, "sync", "mesh.sync", "push our backups to peers, or pull theirs")
    sync.add_argument("direction", choices=("push", "pull"))
    sync.add_argument("--peer", metavar="NODE_ID", help="only this pinned peer")
    sync.add_argument("--bwlimit", type=int, metavar="KIB_S", help="limit to KiB/s (default: mesh.bwlimit)")
    p = operation(cmds, "add-peer", "mesh.add-peer", "pin a peer by node id",
                  text=lambda d: f"pinned {d['node_id']}")
    p.add_argument("node_id")
    p.add_argument("address", nargs="?", metavar="HOST[:PORT]")
    p = operation(cmds, "remove-peer", "mesh.remove-peer", "unpin a peer",
                  text=lambda d: f"unpinned {d['node_id']}")
    p.add_argument("node_id")
    operation(cmds, "peers", "mesh.peers", "list pinned peers", text=_peers_text)
    operation(cmds, "id", "mesh.id", "show this node's id", text=lambda d: d["node_id"])
    operation(cmds, "snapshots", "mesh.snapshots", "list this node's snapshots", text=_snapshots_text)
    p = operation(cmds, "verify", "mesh.verify", "read and authenticate the whole repository", text=_verify_text,
                  secrets=_recovery_key)
    p.add_argument("--from", dest="from_node", metavar="NODE_ID", help="verify the copy this peer holds")
    p.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from stdin")
    p = operation(cmds, "prune", "mesh.prune", "forget snapshots beyond the retention in UCI and free space")
    p.add_argument("--dry-run", action="store_true", help="only say what would be forgotten")
    key = group(cmds, "key", "repository keys")
    operation(key, "export", "mesh.key.export", "make a new recovery key and print it once", text=_key_text)
    p = operation(cmds, "recover", "mesh.recover",
                  "fetch this node's backups from a peer with the recovery key (stdin) and restore them",
                  text=_recover_text, secrets=_peers_then_key)  # fmt: skip
    p.add_argument("peers", nargs="+", metavar="NODE_ID@HOST[:PORT]",
                   help="a peer holding a copy, named by its node id (its host key is checked); "
                   "with several, the newest copy is restored and the others heal what is damaged in it")  # fmt: skip
    operation(cmds, "discovered", "mesh.discovered", "list nodes seen by zeroconf (pinned or not)",
              text=_discovered_text)
    operation(cmds, "enable", "mesh.enable", "enable automatic backup and sync", text=lambda data: data["message"])
    operation(cmds, "disable", "mesh.disable", "disable automatic backup and sync", text=lambda data: data["message"])


def _read_secret() -> str:
    """The recovery key from stdin (never argv: it would show in ps and shell history)."""
    from secumail.errors import InputError
    from secumail.mesh import keys

    line = sys.stdin.readline().strip()
    if not line:
        raise InputError("no recovery key on stdin (pipe it in, or type it and press Enter)")
    keys.parse_secret(line)  # a malformed key is refused before anything is fetched
    return line


def _recovery_key(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    return {"recovery_key": _read_secret()} if args.recovery_key_stdin else {}


def _peers_then_key(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.mesh.from_peers import parse_peer

    for text in args.peers:  # each peer's node id is checked before the key is asked for
        parse_peer(text, ctx.settings.mesh.port)
    if sys.stdin.isatty():
        sys.stderr.write("recovery key: ")
        sys.stderr.flush()
    return {"recovery_key": _read_secret()}


def _peers_text(rows: list[dict[str, Any]]) -> str:
    shown = [dict(r, up={True: "up", False: "down"}.get(r.get("up"), "?")) for r in rows]
    return table(shown, ["name", "node_id", "address", "port", "up", "last_seen", "last_sync", "stored_bytes"])


def _discovered_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no node discovered yet (is mesh discovery running, and multicast allowed on the LAN?)"
    shown = [
        dict(r, pinned="yes" if r["pinned"] else "NO", up={True: "up", False: "down"}.get(r.get("up"), "?"))
        for r in rows
    ]
    text = table(shown, ["node_id", "address", "port", "pinned", "up", "last_seen"])
    if any(not r["pinned"] for r in rows):
        text += (
            "\nUnpinned nodes are never synced. Compare the full id with 'mailctl mesh id' on that node, "
            "then: mailctl mesh add-peer NODE_ID"
        )
    return text


def _backup_text(d: dict[str, Any]) -> str:
    text = (
        f"snapshot {d['snapshot'][:12]}: {d['files']} files, {d['bytes']} bytes; "
        f"{d['files_read']} read, {d['new_objects']} new objects ({d['new_bytes']} bytes) in {d['seconds']} s"
    )
    if "export" in d:
        text += f"\nexport written to {d['export']['file']} ({d['export']['bytes']} bytes)"
    return text


def _recover_text(d: dict[str, Any]) -> str:
    text = (
        f"recovered node {d['node_id']} from {d['peer']}: snapshot {d['snapshot'][:12]} ({d['time']}), "
        f"{d['files']} files, {d['bytes']} bytes restored into {d['target']}."
    )
    text += _healing_text(d)
    if not d["repository_kept"]:
        text += (
            "\nThe fetched copy was damaged, so it was not kept: the next 'mailctl mesh backup' starts "
            "a new repository (same node key and master key)."
        )
    return text + "\nRun 'mailctl start' to serve the mailboxes again."


def _healing_text(d: dict[str, Any]) -> str:
    text = ""
    if d.get("healed"):
        text += f"\n{len(d['healed'])} damaged or missing files fetched again from another copy: " + ", ".join(
            f"{rel} ({where})" for rel, where in sorted(d["healed"].items())
        )
    if d.get("lost"):
        text += f"\nLOST (damaged on every copy at hand), {len(d['lost'])}: " + "; ".join(d["lost"])
    return text


def _restore_text(d: dict[str, Any]) -> str:
    return (
        f"restored snapshot {d['snapshot'][:12]} ({d['time']}): "
        f"{d['files']} files, {d['bytes']} bytes into {d['target']}"
    ) + _healing_text(d)


def _snapshots_text(rows: list[dict[str, Any]]) -> str:
    return table(rows, ["id", "time", "hostname", "files", "bytes", "new_bytes"])


def _verify_text(d: dict[str, Any]) -> str:
    where = f"copy on {d['source']}" if d.get("source") else "repository"
    return (
        f"{where} ok: {d['packs']} packs, {d['objects']} objects, {d['snapshots']} snapshots authenticated"
    )


def _key_text(d: dict[str, Any]) -> str:
    peers = " ".join(d["recover_from"]) or "NODE_ID@HOST[:PORT] (no peer pinned with an address yet)"
    return (
        f"recovery key: {d['recovery_key']}\n"
        f"this node:    {d['node_id']}\n"
        f"recover with: mailctl mesh recover {peers}\n"
        "Write these down and keep them off this router: the key is shown only now, and with it and the\n"
        "peers' ids and addresses 'mailctl mesh recover' brings this node back. Any recovery key shown\n"
        "before no longer opens the repository here, but copies peers already hold keep the old slot\n"
        "until they sync again (see docs/backup-format.md 5.3)."
    )
