"""Plain entry points for the daemon's worker processes: one backup, one sync.

Both take the validated Settings, report progress through an optional callback
(called with small JSON-ready dicts, e.g. {"phase": "backup", "files": 1200,
"bytes": 31000000, "read": 40}), return a JSON-ready dict, and raise
SecumailError subclasses with one clear line on failure.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable

from secumail.errors import InputError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

Progress = Callable[[dict[str, Any]], None]
log = logging.getLogger("secumail.mesh")


def run_backup(settings: Settings, progress: Progress | None = None, confdir: str | None = None) -> dict[str, Any]:
    """Snapshot data_path and the UCI config into this node's repository (creating it)."""
    from secumail.config import confdir as resolve_confdir
    from secumail.mesh.backup import backup
    from secumail.mesh.identity import load_or_create
    from secumail.mesh.repo import open_own

    data_path = settings.main.data_path
    node = load_or_create(data_path)
    with open_own(data_path, node.node_id) as repo:
        return backup(
            repo,
            node,
            data_path,
            os.path.join(resolve_confdir(confdir), "mailserver"),
            settings.main.fqdn,
            progress=progress,
        )


def run_sync(
    settings: Settings, direction: str, progress: Progress | None = None, only: str | None = None
) -> dict[str, Any]:
    """Sync with every pinned peer whose address is known (UCI or discovery).

    direction: "pull" (copy peers' repositories into our store for them), "push"
    (append ours to their inboxes) or "both". Returns {"direction", "peers": [rows],
    "ok", "errors"}; raises PeerError only when every peer failed.
    """
    from secumail.mesh.transport import sync

    if direction not in ("pull", "push", "both"):
        raise InputError(f"sync direction {direction!r}: use pull, push or both")
    rows: list[dict[str, Any]] = []
    for way in ("pull", "push") if direction == "both" else (direction,):
        rows += sync(settings, way, only=only, progress=progress)
    for row in rows:
        if row.get("warning"):  # the daemon's pulls have nobody reading their rows: say it in the log
            log.warning("mesh sync %s: %s", row["direction"], row["warning"])
    ok = sum(1 for r in rows if r["result"] == "ok")
    return {"direction": direction, "peers": rows, "ok": ok, "errors": len(rows) - ok}
