"""mailctl mesh: encrypted backups pulled by pinned mesh peers."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from secumail.cli.base import Context, Failed, command, group, table

MESH = "mesh backup (encrypted repository and peer sync)"


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "mesh", "encrypted backups to and from mesh peers")
    p = command(
        cmds, "backup", backup, "take a snapshot of mail, accounts, keys and config", text=_backup_text
    )
    p.add_argument("--file", metavar="FILE", help="also write a single-file export to FILE")
    p = command(cmds, "restore", restore, "restore a snapshot or a single-file export", text=_restore_text)
    p.add_argument("source", nargs="?", metavar="SNAPSHOT|FILE")
    p.add_argument("--from", dest="from_node", metavar="NODE_ID", help="a peer's copy of our backups")
    p.add_argument("--target", metavar="DIR", help="restore into DIR instead of data_path")
    p.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from stdin")
    sync = command(cmds, "sync", sync_cmd, "push our backups to peers, or pull theirs")
    sync.add_argument("direction", choices=("push", "pull"))
    sync.add_argument("--peer", metavar="NODE_ID", help="only this pinned peer")
    sync.add_argument("--bwlimit", type=int, metavar="KIB_S", help="limit to KiB/s (default: mesh.bwlimit)")
    p = command(cmds, "add-peer", add_peer, "pin a peer by node id", text=lambda d: f"pinned {d['node_id']}")
    p.add_argument("node_id")
    p.add_argument("address", nargs="?", metavar="HOST[:PORT]")
    p = command(cmds, "remove-peer", remove_peer, "unpin a peer", text=lambda d: f"unpinned {d['node_id']}")
    p.add_argument("node_id")
    command(cmds, "peers", peers, "list pinned peers", text=_peers_text)
    command(cmds, "id", node_id, "show this node's id", text=lambda d: d["node_id"])
    command(cmds, "snapshots", snapshots, "list this node's snapshots", text=_snapshots_text)
    p = command(cmds, "verify", verify, "read and authenticate the whole repository", text=_verify_text)
    p.add_argument("--from", dest="from_node", metavar="NODE_ID", help="verify the copy this peer holds")
    p.add_argument("--recovery-key-stdin", action="store_true", help="read the recovery key from stdin")
    p = command(cmds, "prune", prune, "forget snapshots beyond the retention in UCI and free space")
    p.add_argument("--dry-run", action="store_true", help="only say what would be forgotten")
    key = group(cmds, "key", "repository keys")
    command(key, "export", key_export, "make a new recovery key and print it once", text=_key_text)
    p = command(cmds, "recover", recover,
                "fetch this node's backups from a peer with the recovery key (stdin) and restore them",
                text=_recover_text)  # fmt: skip
    p.add_argument("peers", nargs="+", metavar="NODE_ID@HOST[:PORT]",
                   help="a peer holding a copy, named by its node id (its host key is checked); "
                   "with several, the newest copy is restored and the others heal what is damaged in it")  # fmt: skip
    command(cmds, "discovered", discovered, "list nodes seen by zeroconf (pinned or not)", text=_discovered_text)
    command(cmds, "enable", enable, "enable automatic backup and sync", text=lambda data: data["message"])
    command(cmds, "disable", disable, "disable automatic backup and sync", text=lambda data: data["message"])


# identity and peers ------------------------------------------------------------
def node_id(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    import base64

    from secumail.mesh.identity import load_or_create

    key = load_or_create(ctx.settings.main.data_path)
    return {"node_id": key.node_id, "public_key": base64.b64encode(key.public_raw).decode()}


def add_peer(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.mesh.identity import add_peer as pin

    return pin(ctx.confdir, args.node_id, args.address, ctx.settings.mesh.port)


def remove_peer(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.mesh.identity import remove_peer as unpin

    return unpin(ctx.confdir, ctx.settings, args.node_id)


def peers(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    from secumail.mesh.state import peer_rows

    return peer_rows(ctx.settings)


def _peers_text(rows: list[dict[str, Any]]) -> str:
    shown = [dict(r, up={True: "up", False: "down"}.get(r.get("up"), "?")) for r in rows]
    return table(shown, ["name", "node_id", "address", "port", "up", "last_seen", "last_sync", "stored_bytes"])


def discovered(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    from secumail.mesh.discovery import discovered_rows

    return discovered_rows(ctx.settings)


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


# repository ---------------------------------------------------------------------
def _own(ctx: Context, create: bool = True) -> tuple[Any, Any]:
    from secumail.mesh.identity import load_or_create
    from secumail.mesh.repo import open_own

    data_path = ctx.settings.main.data_path
    key = load_or_create(data_path)
    return key, open_own(data_path, key.node_id, create=create)


def backup(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.config import confdir
    from secumail.mesh.backup import backup as run_backup

    settings = ctx.settings
    key, repo = _own(ctx)
    with repo:
        result = run_backup(
            repo,
            key,
            settings.main.data_path,
            os.path.join(confdir(ctx.confdir), "mailserver"),
            settings.main.fqdn,
        )
        if args.file:
            from secumail.mesh.export import export

            result["export"] = export(repo, args.file)
    return result


def _backup_text(d: dict[str, Any]) -> str:
    text = (
        f"snapshot {d['snapshot'][:12]}: {d['files']} files, {d['bytes']} bytes; "
        f"{d['files_read']} read, {d['new_objects']} new objects ({d['new_bytes']} bytes) in {d['seconds']} s"
    )
    if "export" in d:
        text += f"\nexport written to {d['export']['file']} ({d['export']['bytes']} bytes)"
    return text


def restore(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from secumail.config import confdir
    from secumail.errors import InputError
    from secumail.mesh.restore import restore as run_restore

    settings = ctx.settings
    data_path = settings.main.data_path
    target = os.path.abspath(args.target) if args.target else data_path
    uci_dest = None if args.target else confdir(ctx.confdir)
    if args.from_node:
        from secumail.mesh.from_peers import fetched_copy

        secret = _read_secret() if args.recovery_key_stdin else None
        with fetched_copy(settings, args.from_node, secret) as (repo, fetched):
            _warn(fetched.warning)
            result = run_restore(repo, args.source, target, uci_dest, tolerate_loss=True)
        result = dict(result, source=args.from_node, **fetched.facts())
        return Failed(result) if result["lost"] else result
    if args.source and os.path.isfile(args.source):
        from secumail.mesh.export import unpack

        with tempfile.TemporaryDirectory(prefix="secumail-restore-") as tmp:
            path = unpack(args.source, tmp)
            with _open_foreign(path, data_path, args) as repo:
                return run_restore(repo, None, target, uci_dest)
    if args.source and os.path.isfile(os.path.join(args.source, "config")):
        with _open_foreign(os.path.abspath(args.source), data_path, args) as repo:  # a copy held by a peer
            _warn(_head_warning(data_path, repo, f"the copy in {args.source}"))
            return run_restore(repo, None, target, uci_dest)
    if args.source and "/" in args.source:
        raise InputError(f"{args.source}: no such export file")
    _key, repo = _own(ctx, create=False)
    with repo:
        return run_restore(repo, args.source, target, uci_dest)


def _open_foreign(path: str, data_path: str, args: argparse.Namespace) -> Any:
    """A repository not ours on disk: open with our master key if it fits, else the recovery key."""
    from secumail.errors import InputError
    from secumail.mesh import keys
    from secumail.mesh.from_peers import open_with_secret
    from secumail.mesh.repo import Repository

    if not args.recovery_key_stdin and os.path.exists(keys.master_path(data_path)):
        repo = Repository(path, keys.load_or_create_master(data_path))
        try:
            repo.sync_cache()
            return repo
        except Exception:  # noqa: BLE001 - a different repository: fall through to the recovery key
            repo.close()
            if not args.recovery_key_stdin:
                raise InputError(
                    "this export was made by another node: give its recovery key with --recovery-key-stdin"
                ) from None
    if not args.recovery_key_stdin:
        raise InputError("no local master key: give the recovery key with --recovery-key-stdin")
    return open_with_secret(path, _read_secret())  # checks the format version before any key


def _warn(line: str | None) -> None:
    """One warning line on stderr (stdout stays the result, one JSON document with --json)."""
    if line:
        sys.stderr.write(f"mailctl: warning: {line}\n")
        sys.stderr.flush()


def _head_warning(data_path: str, repo: Any, source: str) -> str | None:
    from secumail.mesh import heads

    node = repo.config.get("node_id")
    if not isinstance(node, str):
        return None
    return heads.check(data_path, node, repo.path, source, repo.list("snapshots"))


def _read_secret() -> bytes:
    """The recovery key from stdin (never argv: it would show in ps and shell history)."""
    from secumail.errors import InputError
    from secumail.mesh import keys

    line = sys.stdin.readline().strip()
    if not line:
        raise InputError("no recovery key on stdin (pipe it in, or type it and press Enter)")
    return keys.parse_secret(line)


def recover(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.config import confdir
    from secumail.mesh.from_peers import parse_peer
    from secumail.mesh.from_peers import recover as run_recover

    for text in args.peers:  # each peer's node id is checked before the key is asked for
        parse_peer(text, ctx.settings.mesh.port)
    if sys.stdin.isatty():
        sys.stderr.write("recovery key: ")
        sys.stderr.flush()
    result = run_recover(ctx.settings, confdir(ctx.confdir), args.peers, _read_secret())
    _warn(result.get("warning"))
    return Failed(result) if result["lost"] else result


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


def snapshots(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    _key, repo = _own(ctx, create=False)
    with repo:
        return [
            {"id": name[:12], "name": name, "time": b["time"], "hostname": b["hostname"], **b["stats"]}
            for name, b in repo.snapshots()
        ]


def _snapshots_text(rows: list[dict[str, Any]]) -> str:
    return table(rows, ["id", "time", "hostname", "files", "bytes", "new_bytes"])


def verify(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.mesh.restore import verify as run_verify

    if args.from_node:
        from secumail.mesh.from_peers import fetched_copy

        secret = _read_secret() if args.recovery_key_stdin else None
        with fetched_copy(ctx.settings, args.from_node, secret, heal=False) as (repo, fetched):
            _warn(fetched.warning)
            return dict(run_verify(repo), source=args.from_node)
    _key, repo = _own(ctx, create=False)
    with repo:
        return run_verify(repo)


def _verify_text(d: dict[str, Any]) -> str:
    where = f"copy on {d['source']}" if d.get("source") else "repository"
    return (
        f"{where} ok: {d['packs']} packs, {d['objects']} objects, {d['snapshots']} snapshots authenticated"
    )


def prune(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.mesh.prune import prune as run_prune

    b = ctx.settings.backup
    _key, repo = _own(ctx, create=False)
    with repo:
        return run_prune(repo, b.keep_last, b.keep_daily, b.keep_weekly, b.keep_monthly, dry_run=args.dry_run)


def key_export(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    import contextlib

    from secumail.errors import InputError
    from secumail.mesh.identity import normalize_node_id
    from secumail.mesh.recovery_key import export_recovery_key

    key, repo = _own(ctx)
    with repo:
        result = export_recovery_key(repo, key)
    peers = []
    for peer in ctx.settings.pinned_peers:  # what recover needs besides the key: each peer's id and address
        with contextlib.suppress(InputError):  # a malformed seed-004 id cannot be recovered from anyway
            host = f"[{peer.address}]" if ":" in peer.address else peer.address
            if peer.address:
                peers.append(f"{normalize_node_id(peer.node_id)}@{host}:{peer.port}")
    return dict(result, recover_from=peers)


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


def sync_cmd(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    from secumail.mesh.transport import sync

    return sync(ctx.settings, args.direction, only=args.peer, bwlimit=args.bwlimit)


def _set_enabled(ctx: Context, enabled: bool) -> dict[str, Any]:
    from secumail.config.uci_paths import set_value

    set_value(ctx.confdir, "mailserver.mesh.enabled", "1" if enabled else "0")
    word = "enabled" if enabled else "disabled"
    return {"result": "ok", "enabled": enabled, "message": f"mesh backup {word}"}


def enable(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    return _set_enabled(ctx, True)


def disable(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    return _set_enabled(ctx, False)
