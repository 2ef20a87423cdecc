"""Per-peer facts the node learns while syncing: last seen, last sync, bytes stored.

Kept in data_path/mesh/state/peers.json (excluded from backups: it is rebuilt by use).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from secumail.config.layout import DataLayout
from secumail.system.files import file_lock, write_json

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def _path(data_path: str) -> str:
    return os.path.join(DataLayout(data_path).mesh_state, "peers.json")


def load(data_path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(_path(data_path), "rb") as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return {}


def update(data_path: str, node_id: str, **facts: Any) -> None:
    path = _path(data_path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with file_lock(path + ".lock"):
        state = load(data_path)
        state.setdefault(node_id, {}).update(facts)
        write_json(path, state)


def stored_bytes(directory: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def held_bytes(directory: str) -> int:
    """What a directory costs against a peer quota: each regular file at least one block."""
    from secumail.mesh.layout import charge

    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += charge(os.lstat(os.path.join(root, name)).st_size)
    return total


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "never"


def peer_rows(settings: Settings) -> list[dict[str, Any]]:
    """What `mailctl mesh peers` shows: each pinned peer with what syncing learnt about it."""
    state = load(settings.main.data_path)
    rows = []
    for peer in settings.pinned_peers:
        facts = state.get(peer.node_id, {})
        rows.append(
            {
                "name": peer.name,
                "node_id": peer.node_id,
                "address": peer.address,
                "port": peer.port,
                "last_seen": _when(facts.get("last_seen")),
                "last_sync": _when(facts.get("last_sync")),
                "stored_bytes": stored_bytes(settings.layout.peer_store(peer.node_id)),
                "up": facts.get("up"),
            }
        )
    return rows


def own_backup(data_path: str) -> dict[str, Any]:
    """This node's repository as files only (nothing decrypted): when the newest snapshot was
    written (None: never) and the bytes the repository takes; for diagnose and the metrics."""
    repository = DataLayout(data_path).repository
    newest = None
    with contextlib.suppress(OSError), os.scandir(os.path.join(repository, "snapshots")) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                mtime = entry.stat(follow_symlinks=False).st_mtime
                newest = mtime if newest is None else max(newest, mtime)
    return {"last": newest, "bytes": stored_bytes(repository)}
