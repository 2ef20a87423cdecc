"""Find damaged files in a copy of a peer's repository and remove them, so the next sync re-sends them.

Packs, indexes and snapshots are named by the SHA-256 of their bytes, so a copy
is checked without any key. Hashing a whole copy at every sync would read
gigabytes each hour on a router, so a small cache (`.verified` in the copy,
hidden from peers like every dot name) remembers (size, mtime_ns, inode) of each
file that checked out: only new or changed files are hashed, plus, for bit rot
that changes nothing visible, the longest-unchecked files up to a byte budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time

from secumail.mesh import layout

log = logging.getLogger(__name__)
CACHE = ".verified"
RECHECK_BUDGET = 64 << 20  # bytes re-hashed per scrub among files that look unchanged


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb", buffering=0) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(root: str) -> dict[str, list[int]]:
    try:
        with open(os.path.join(root, CACHE), "rb") as handle:
            data = json.loads(handle.read())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(root: str, cache: dict[str, list[int]]) -> None:
    from secumail.system.files import atomic_write

    with contextlib.suppress(OSError):
        atomic_write(os.path.join(root, CACHE), json.dumps(cache, separators=(",", ":")), 0o600)


def scrub(root: str, recheck_budget: int = RECHECK_BUDGET) -> list[str]:
    """Remove storage-named files under `root` whose content no longer matches their name.

    Returns the relative names removed (each also logged).
    """
    if not os.path.isdir(root):
        return []
    cache = _load(root)
    seen: dict[str, list[int]] = {}
    suspects: list[tuple[str, os.stat_result]] = []
    stale: list[tuple[int, str, os.stat_result]] = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.startswith(".") or not layout.storage_named(rel):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue  # deleted meanwhile (a pull mirrors the owner's prune)
            if not stat.S_ISREG(st.st_mode):
                continue
            key = [st.st_size, st.st_mtime_ns, st.st_ino]
            known = cache.get(rel)
            if known is not None and known[:3] == key:
                seen[rel] = known
                stale.append((known[3] if len(known) > 3 else 0, rel, st))
            else:
                suspects.append((rel, st))
    budget = recheck_budget
    for _checked, rel, st in sorted(stale):
        if budget <= 0:
            break
        budget -= st.st_size
        suspects.append((rel, st))
    removed = []
    now = int(time.time())
    for rel, st in suspects:
        path = os.path.join(root, rel)
        try:
            good = sha256_file(path) == os.path.basename(rel)
        except OSError:
            continue
        if good:
            seen[rel] = [st.st_size, st.st_mtime_ns, st.st_ino, now]
            continue
        seen.pop(rel, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        log.warning("%s in %s does not match its name (damaged); removed so the next sync brings it again", rel, root)
        removed.append(rel)
    if seen != cache:
        _save(root, seen)
    return removed
