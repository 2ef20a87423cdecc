"""Mesh backup operations: snapshots, restore, sync, peers, recovery (secumail.mesh underneath)."""

from __future__ import annotations

import os
from typing import Any

from secumail.appliance.operations import Call, Reported
from secumail.errors import InputError


# identity and peers ------------------------------------------------------------
def node_id(call: Call) -> dict[str, Any]:
    import base64

    from secumail.mesh.identity import load_or_create

    key = load_or_create(call.settings.main.data_path)
    return {"node_id": key.node_id, "public_key": base64.b64encode(key.public_raw).decode()}


def add_peer(call: Call, node_id: str, address: str | None) -> dict[str, Any]:
    from secumail.mesh.identity import add_peer as pin

    return pin(call.confdir, node_id, address, call.settings.mesh.port)


def remove_peer(call: Call, node_id: str) -> dict[str, Any]:
    from secumail.mesh.identity import remove_peer as unpin

    return unpin(call.confdir, call.settings, node_id)


def peers(call: Call) -> list[dict[str, Any]]:
    from secumail.mesh.state import peer_rows

    return peer_rows(call.settings)


def discovered(call: Call) -> list[dict[str, Any]]:
    from secumail.mesh.discovery import discovered_rows

    return discovered_rows(call.settings)


# repository ---------------------------------------------------------------------
def _own(call: Call, create: bool = True) -> tuple[Any, Any]:
    from secumail.mesh.identity import load_or_create
    from secumail.mesh.repo import open_own

    data_path = call.settings.main.data_path
    key = load_or_create(data_path)
    return key, open_own(data_path, key.node_id, create=create)


def _secret(text: str | None) -> bytes | None:
    from secumail.mesh import keys

    return keys.parse_secret(text.strip()) if text is not None else None


def backup(call: Call, file: str | None) -> dict[str, Any]:
    from secumail.config import confdir
    from secumail.mesh.backup import backup as run_backup

    settings = call.settings
    key, repo = _own(call)
    with repo:
        result = run_backup(repo, key, settings.main.data_path, os.path.join(confdir(call.confdir), "mailserver"),
                            settings.main.fqdn)  # fmt: skip
        if file:
            from secumail.mesh.export import export

            result["export"] = export(repo, file)
    return result


def restore(call: Call, source: str | None, from_node: str | None, target: str | None,
            recovery_key: str | None) -> Any:  # fmt: skip
    import tempfile

    from secumail.config import confdir
    from secumail.mesh.restore import restore as run_restore

    data_path = call.settings.main.data_path
    into = os.path.abspath(target) if target else data_path
    uci_dest = None if target else confdir(call.confdir)
    if from_node:
        from secumail.mesh.from_peers import fetched_copy

        with fetched_copy(call.settings, from_node, _secret(recovery_key)) as (repo, fetched):
            call.warn(fetched.warning)
            result = run_restore(repo, source, into, uci_dest, tolerate_loss=True)
        result = dict(result, source=from_node, **fetched.facts())
        return Reported(result) if result["lost"] else result
    if source and os.path.isfile(source):
        from secumail.mesh.export import unpack

        with tempfile.TemporaryDirectory(prefix="secumail-restore-") as tmp:
            path = unpack(source, tmp)
            with _open_foreign(path, data_path, recovery_key) as repo:
                return run_restore(repo, None, into, uci_dest)
    if source and os.path.isfile(os.path.join(source, "config")):
        with _open_foreign(os.path.abspath(source), data_path, recovery_key) as repo:  # a copy held by a peer
            call.warn(_head_warning(data_path, repo, f"the copy in {source}"))
            return run_restore(repo, None, into, uci_dest)
    if source and "/" in source:
        raise InputError(f"{source}: no such export file")
    _key, repo = _own(call, create=False)
    with repo:
        return run_restore(repo, source, into, uci_dest)


def _open_foreign(path: str, data_path: str, recovery_key: str | None) -> Any:
    """A repository not ours on disk: open with our master key if it fits, else the recovery key."""
    from secumail.mesh import keys
    from secumail.mesh.from_peers import open_with_secret
    from secumail.mesh.repo import Repository

    if recovery_key is None and os.path.exists(keys.master_path(data_path)):
        repo = Repository(path, keys.load_or_create_master(data_path))
        try:
            repo.sync_cache()
            return repo
        except Exception:  # noqa: BLE001 - a different repository: fall through to the recovery key
            repo.close()
            raise InputError(
                "this export was made by another node: give its recovery key with --recovery-key-stdin"
            ) from None
    if recovery_key is None:
        raise InputError("no local master key: give the recovery key with --recovery-key-stdin")
    return open_with_secret(path, _secret(recovery_key))  # checks the format version before any key


def _head_warning(data_path: str, repo: Any, source: str) -> str | None:
    from secumail.mesh import heads

    node = repo.config.get("node_id")
    if not isinstance(node, str):
        return None
    return heads.check(data_path, node, repo.path, source, repo.list("snapshots"))


def recover(call: Call, peers: list[str], recovery_key: str) -> Any:
    from secumail.config import confdir
    from secumail.mesh.from_peers import recover as run_recover

    result = run_recover(call.settings, confdir(call.confdir), peers, _secret(recovery_key))
    call.warn(result.get("warning"))
    return Reported(result) if result["lost"] else result


def snapshots(call: Call) -> list[dict[str, Any]]:
    from secumail.config.layout import DataLayout

    if not os.path.exists(os.path.join(DataLayout(call.settings.main.data_path).repository, "config")):
        return []  # no backup yet: an empty list, not an error (the first backup creates the repository)
    _key, repo = _own(call, create=False)
    with repo:
        return [
            {"id": name[:12], "name": name, "time": b["time"], "hostname": b["hostname"], **b["stats"]}
            for name, b in repo.snapshots()
        ]


def verify(call: Call, from_node: str | None, recovery_key: str | None) -> dict[str, Any]:
    from secumail.mesh.restore import verify as run_verify

    if from_node:
        from secumail.mesh.from_peers import fetched_copy

        with fetched_copy(call.settings, from_node, _secret(recovery_key), heal=False) as (repo, fetched):
            call.warn(fetched.warning)
            return dict(run_verify(repo), source=from_node)
    _key, repo = _own(call, create=False)
    with repo:
        return run_verify(repo)


def prune(call: Call, dry_run: bool) -> dict[str, Any]:
    from secumail.mesh.prune import prune as run_prune

    b = call.settings.backup
    _key, repo = _own(call, create=False)
    with repo:
        return run_prune(repo, b.keep_last, b.keep_daily, b.keep_weekly, b.keep_monthly, dry_run=dry_run)


def key_export(call: Call) -> dict[str, Any]:
    import contextlib

    from secumail.mesh.identity import normalize_node_id
    from secumail.mesh.recovery_key import export_recovery_key

    key, repo = _own(call)
    with repo:
        result = export_recovery_key(repo, key)
    found = []
    for peer in call.settings.pinned_peers:  # what recover needs besides the key: each peer's id and address
        with contextlib.suppress(InputError):  # a malformed old-style id cannot be recovered from anyway
            host = f"[{peer.address}]" if ":" in peer.address else peer.address
            if peer.address:
                found.append(f"{normalize_node_id(peer.node_id)}@{host}:{peer.port}")
    return dict(result, recover_from=found)


def sync(call: Call, direction: str, peer: str | None, bwlimit: int | None) -> list[dict[str, Any]]:
    from secumail.mesh.transport import sync as run_sync

    rows = run_sync(call.settings, direction, only=peer, bwlimit=bwlimit)
    for row in rows:
        call.warn(row.get("warning"))  # a peer serving an older copy than it did: we kept ours whole
    return rows


def _set_enabled(call: Call, enabled: bool) -> dict[str, Any]:
    from secumail.config.uci_paths import set_value

    set_value(call.confdir, "mailserver.mesh.enabled", "1" if enabled else "0")
    call.reload()
    word = "enabled" if enabled else "disabled"
    return {"result": "ok", "enabled": enabled, "message": f"mesh backup {word}"}


def enable(call: Call) -> dict[str, Any]:
    return _set_enabled(call, True)


def disable(call: Call) -> dict[str, Any]:
    return _set_enabled(call, False)
