"""Per-peer facts the node learns while syncing: last seen, last sync, bytes stored.

Kept in data_path/mesh/state/peers.json (excluded from backups: it is rebuilt by use).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from secumail.config.layout import DataLayout
from secumail.errors import InputError
from secumail.mesh.identity import normalize_node_id
from secumail.system.files import atomic_write, file_lock


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
        atomic_write(path, json.dumps(state, indent=1, sort_keys=True) + "\n", 0o600)


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


def peer_rows(settings: Any) -> list[dict[str, Any]]:
    data_path = settings.main.data_path
    state = load(data_path)
    rows = []
    seen = set()
    listed = [(p.name, p.node_id, p.address, p.port) for p in settings.peers]
    listed += [("", n, "", settings.mesh.port) for n in settings.mesh.backup_peers]
    for name, node, address, port in listed:
        with contextlib.suppress(InputError):  # a malformed id from mesh.backup_peers is shown as written
            node = normalize_node_id(node)
        if node in seen:
            continue
        seen.add(node)
        facts = state.get(node, {})
        held = DataLayout(data_path).peer_store(node)
        rows.append(
            {
                "name": name,
                "node_id": node,
                "address": address,
                "port": port,
                "last_seen": _when(facts.get("last_seen")),
                "last_sync": _when(facts.get("last_sync")),
                "stored_bytes": stored_bytes(held),
                "up": facts.get("up"),
            }
        )
    return rows
