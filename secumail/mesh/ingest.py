"""Move files a peer pushed from its inbox into our store for it, once checked.

The inbox is append-only for the peer; the store (data_path/backup/peers/<N>/) is
what we serve back to it (/stored) and what recovery reads. A file enters the store
only when it is provably what the peer meant to send:
  - storage-named files (packs, indexes, snapshots): SHA-256 of the bytes = name;
  - `config`: a repository config naming that node, only if we hold none yet;
  - `keys/<slot>.<sha256>`, `recovery.pub.<sha256>`: mutable files sent under a content
    name; they replace the stored one (recovery.pub only when signed by that node).
Anything else stays in the inbox, where it counts against the peer's quota.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil

from secumail.mesh.scrub import sha256_file
from secumail.system.files import atomic_write, fsync_dir

log = logging.getLogger(__name__)
_NAMED = re.compile(r"^[0-9a-f]{64}$")
_MUTABLE = re.compile(r"^(?P<rel>keys/[A-Za-z0-9_-]+|recovery\.pub)\.(?P<sha>[0-9a-f]{64})$")


def _place(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
    try:
        os.link(src, dest)
    except FileExistsError:
        pass  # the same content landed by pull already
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = os.path.join(os.path.dirname(dest), ".tmp-ingest-" + os.path.basename(dest))
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    fsync_dir(os.path.dirname(dest))
    os.unlink(src)


def ingest(inbox: str, store: str, rel: str, node_id: str) -> bool:
    """Move inbox/rel into the store if it checks out; True if it moved."""
    src = os.path.join(inbox, rel)
    base = os.path.basename(rel)
    try:
        if _NAMED.match(base):
            if sha256_file(src) != base:
                # removed, not kept: a file in the inbox counts as sent, so it would never come again
                log.warning("peer %s pushed %s whose content does not match its name; removed", node_id, rel)
                os.unlink(src)
                return False
            _place(src, os.path.join(store, rel))
            return True
        if rel == "config":
            with open(src, "rb") as handle:
                cfg = json.loads(handle.read())
            if cfg.get("node_id") != node_id or os.path.exists(os.path.join(store, "config")):
                return False
            _place(src, os.path.join(store, "config"))
            return True
        match = _MUTABLE.match(rel)
        if match is None or sha256_file(src) != match.group("sha"):
            return False
        with open(src, "rb") as handle:
            data = handle.read()
        if match.group("rel") == "recovery.pub" and not _signed_by(data, node_id):
            log.warning("peer %s pushed a recovery.pub it did not sign; kept in its inbox", node_id)
            return False
        os.makedirs(os.path.join(store, os.path.dirname(match.group("rel"))), mode=0o700, exist_ok=True)
        atomic_write(os.path.join(store, match.group("rel")), data, 0o600)
        os.unlink(src)
        return True
    except (OSError, ValueError) as exc:
        log.warning("cannot move %s of peer %s into its store: %s", rel, node_id, exc)
        with contextlib.suppress(OSError):
            leftover = os.path.join(store, ".tmp-ingest-" + base)
            if os.path.exists(leftover):
                os.unlink(leftover)
        return False


def _signed_by(data: bytes, node_id: str) -> bool:
    import tempfile

    from secumail.mesh.recovery_key import recovery_public_key

    with tempfile.TemporaryDirectory(prefix="secumail-ingest-") as tmp:
        with open(os.path.join(tmp, "recovery.pub"), "wb") as handle:
            handle.write(data)
        return recovery_public_key(tmp, node_id) is not None


def ingest_all(inbox: str, store: str, node_id: str) -> int:
    """Move everything in an inbox that checks out (files left by an older version or a crash)."""
    from secumail.mesh.transport import _rank

    rels = [
        os.path.relpath(os.path.join(dirpath, name), inbox)
        for dirpath, _dirs, files in os.walk(inbox)
        for name in files
        if not name.startswith(".")
    ]
    return sum(ingest(inbox, store, rel, node_id) for rel in sorted(rels, key=lambda r: (_rank(r), r)))
