"""Take a snapshot of data_path (+ the UCI config) into this node's repository.

Streaming: one file (or one 1 MiB chunk) in memory at a time, the index and
files cache in SQLite. Incremental: a file whose (path|inode, size, mtime)
is in the files cache and whose objects are indexed is not read at all.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from typing import Any, Callable

from secumail.errors import SecumailError
from secumail.mesh.crypto import TYPE_DATA, TYPE_TREE
from secumail.mesh.identity import NodeKey
from secumail.mesh.repo import ObjectWriter, Repository
from secumail.mesh.snapshot import TreeWriter, encode, make_body

log = logging.getLogger(__name__)

# one object in memory is at most this big, whatever the repository config says
MAX_OBJECT = 4 << 20
# relative to data_path: repositories (ours and peers') and rebuildable caches are not backed up
EXCLUDE = (
    "backup",
    "mesh/cache.db",
    "mesh/cache.db-wal",
    "mesh/cache.db-shm",
    "mesh/.node.lock",
    "mesh/state",
)


def _excluded(rel: str) -> bool:
    return any(rel == e or rel.startswith(e + "/") for e in EXCLUDE)


def walk(root: str) -> Any:
    """(rel path, abs path, lstat) depth-first, sorted, without following symlinks."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            names = sorted(os.listdir(abs_dir))
        except OSError as exc:
            log.warning("cannot list %s: %s", abs_dir, exc.strerror)
            continue
        subdirs = []
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if _excluded(rel):
                continue
            full = os.path.join(abs_dir, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue  # a maildir message moved or expunged while we walk
            yield rel, full, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(rel)
        stack.extend(reversed(subdirs))


def _store_file(writer: ObjectWriter, full: str, size: int) -> list[bytes]:
    cfg = writer.repo.config
    chunk = min(int(cfg.get("chunk_size", MAX_OBJECT)), MAX_OBJECT)
    whole = min(int(cfg.get("whole_file_max", chunk)), MAX_OBJECT)
    ids = []
    with open(full, "rb") as handle:
        if size <= whole:
            ids.append(writer.store(TYPE_DATA, handle.read()))
        else:
            while True:
                data = handle.read(chunk)
                if not data:
                    break
                ids.append(writer.store(TYPE_DATA, data))
    return ids


def _entry(rel: str, st: os.stat_result) -> dict[str, Any]:
    return {"p": rel, "m": stat.S_IMODE(st.st_mode), "u": st.st_uid, "g": st.st_gid, "mt": st.st_mtime_ns}


def backup(
    repo: Repository,
    node: NodeKey,
    data_path: str,
    uci_file: str | None,
    hostname: str,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Snapshot data_path; `progress` gets {"phase": "backup", "files", "bytes", "read"} every 500 files."""
    if not os.path.isdir(data_path):
        raise SecumailError(f"data_path {data_path} does not exist: nothing to back up")
    started = time.monotonic()
    with repo.lock():
        repo.cleanup_tmp()
        repo.sync_cache()
        orphans = repo.recover_orphans()
        cache = repo.cache
        gen = int(cache.meta("gen", "0")) + 1
        writer = ObjectWriter(repo)
        tree = TreeWriter(lambda data: writer.store(TYPE_TREE, data))
        files = read = total = 0
        try:
            cache.db.execute("BEGIN")
            items = list_items(data_path, uci_file)
            for n, (rel, full, st) in enumerate(items):
                entry = _entry(rel, st)
                if stat.S_ISDIR(st.st_mode):
                    entry["t"] = "d"
                elif stat.S_ISLNK(st.st_mode):
                    entry["t"] = "l"
                    entry["l"] = os.readlink(full)
                elif stat.S_ISREG(st.st_mode):
                    entry["t"] = "f"
                    entry["s"] = st.st_size
                    files += 1
                    total += st.st_size
                    ids = cache.file_ids(rel, st.st_size, st.st_mtime_ns, st.st_ino)
                    if ids is None or not all(writer_has(writer, i) for i in ids):
                        try:
                            ids = _store_file(writer, full, st.st_size)
                        except FileNotFoundError:
                            continue  # expunged while we walked
                        read += 1
                    cache.remember_file(rel, st.st_size, st.st_mtime_ns, st.st_ino, ids, gen)
                    entry["o"] = [i.hex() for i in ids]
                else:
                    continue  # sockets, fifos, devices: not state we need
                tree.add(entry)
                if n % 2000 == 0:
                    cache.db.execute("COMMIT")
                    cache.db.execute("BEGIN")
                if progress is not None and n % 500 == 0:
                    progress({"phase": "backup", "files": files, "bytes": total, "read": read})
            tree_ids = tree.finish()
            writer.flush()
            cache.db.execute("COMMIT")
        except BaseException:
            writer.abort()
            if cache.db.in_transaction:
                cache.db.execute("ROLLBACK")
            raise
        parents = repo.snapshots()
        parent = parents[-1][0] if parents else None
        stats = {
            "files": files,
            "bytes": total,
            "files_read": read,
            "new_objects": writer.new_objects,
            "new_bytes": writer.new_bytes,
            "packs": writer.packs_written,
        }
        body = make_body(node, hostname, tree_ids, stats, parent)
        name = repo.write("snapshots", encode(repo.cipher, node, body))
        cache.forget_files_before(gen)
        cache.set_meta("gen", str(gen))
        repo.merge_small_indexes()
    result = {
        "snapshot": name,
        "time": body["time"],
        "seconds": round(time.monotonic() - started, 3),
        **stats,
    }
    if orphans:
        result["recovered_packs"] = orphans
    return result


def writer_has(writer: ObjectWriter, oid: bytes) -> bool:
    return oid in writer.pending or writer.repo.cache.has(oid)


def list_items(data_path: str, uci_file: str | None) -> Any:
    yield from walk(data_path)
    if uci_file and os.path.isfile(uci_file):
        st = os.stat(uci_file)
        yield "uci", os.path.dirname(uci_file), os.stat(os.path.dirname(uci_file))
        yield "uci/mailserver", uci_file, st
