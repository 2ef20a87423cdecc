"""Take a snapshot of data_path (+ the UCI config) into this node's repository.

Streaming: one file (or one 1 MiB chunk) in memory at a time, the index and
files cache in SQLite. Incremental: a file whose (path|inode, size, mtime)
is in the files cache and whose objects are indexed is not read at all.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from secumail.config.layout import DataLayout
from secumail.errors import SecumailError
from secumail.mesh import heads
from secumail.mesh.crypto import TYPE_DATA, TYPE_TREE
from secumail.mesh.identity import NodeKey
from secumail.mesh.repo import ObjectWriter, Repository
from secumail.mesh.snapshot import TreeWriter, encode, make_body

log = logging.getLogger(__name__)

# one object in memory is at most this big, whatever the repository config says
MAX_OBJECT = 4 << 20
WORKERS = 2  # threads that read and seal files (none on a one-core router)
IN_FLIGHT = 4 << 20  # file bytes read but not yet in a pack
MAX_QUEUE = 1024  # entries waiting for an earlier file's objects
# relative to data_path: repositories (ours and peers') and rebuildable caches are not backed up
EXCLUDE = tuple(os.path.relpath(path, "/") for path in DataLayout("/").not_backed_up)


def open_regular(full: str) -> Any:
    """Open a file the walk saw as regular, never following a symlink swapped in since.

    O_NOFOLLOW refuses a symlink at the last component and O_NONBLOCK keeps a fifo
    swapped in from blocking; either counts as the file having vanished (it is left
    out of the snapshot with a warning), like a message expunged while we walk.
    """
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.warning("%s became a symlink while backing up; not followed, left out", full)
            raise FileNotFoundError(errno.ENOENT, "replaced by a symlink", full) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        log.warning("%s is no longer a regular file; left out", full)
        raise FileNotFoundError(errno.ENOENT, "no longer a regular file", full)
    return os.fdopen(fd, "rb")


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


class _Pipeline:
    """Seals file objects in worker threads while the main thread walks, reads and writes packs.

    Hashing, zstd and file reads release the GIL, so two cores both work. Items
    leave in walk order (the tree and the packs come out as without threads),
    and the bytes read but not yet stored are capped at IN_FLIGHT, so memory
    stays bounded whatever the size of the maildir.
    """

    def __init__(self, writer: ObjectWriter, finish: Callable[[dict[str, Any], Any, list[bytes] | None], None]) -> None:
        self.writer = writer
        self.finish = finish
        self.cipher = writer.repo.cipher
        cfg = writer.repo.config
        self.chunk = min(int(cfg.get("chunk_size", MAX_OBJECT)), MAX_OBJECT)
        self.whole = min(int(cfg.get("whole_file_max", self.chunk)), MAX_OBJECT)
        workers = min(WORKERS, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="seal") if workers > 0 else None
        self.queue: deque[tuple[dict[str, Any], Any, list[Any] | None, list[int] | None]] = deque()
        self.in_flight = 0
        self.vanished = 0
        self.vanished_bytes = 0

    def _prepare(self, data: bytes) -> Any:
        if self.pool is None:
            return self.cipher.prepare_object(TYPE_DATA, data)
        return self.pool.submit(self.cipher.prepare_object, TYPE_DATA, data)

    def _read_prepare(self, full: str) -> tuple[bytes, bytes, bytes, int]:
        with open_regular(full) as handle:
            return self.cipher.prepare_object(TYPE_DATA, handle.read())

    def add_file(self, entry: dict[str, Any], stat_info: Any, full: str, size: int) -> None:
        """Queue a file's objects: read and sealed by a worker (one object) or read here (chunks).

        A file gone before it is read raises FileNotFoundError here or, when a
        worker reads it, is left out of the tree when its turn comes.
        """
        parts: list[Any] = []
        sizes: list[int] = []
        if self.pool is not None and size <= self.whole:
            parts.append(self.pool.submit(self._read_prepare, full))
            sizes.append(size)
            self.in_flight += size
            self.queue.append((entry, stat_info, parts, sizes))
            self._drain()
            return
        with open_regular(full) as handle:
            if size <= self.whole:
                data = handle.read()
                parts.append(self._prepare(data))
                sizes.append(len(data))
                self.in_flight += len(data)
            else:
                oldest = 0
                while data := handle.read(self.chunk):
                    parts.append(self._prepare(data))
                    sizes.append(len(data))
                    self.in_flight += len(data)
                    # a big file: its own chunks go into packs as they are sealed, so at most
                    # IN_FLIGHT of it is held (packs need no order; only the tree does)
                    while self.in_flight > IN_FLIGHT and oldest < len(parts) - 1:
                        parts[oldest] = self._resolve(parts[oldest], sizes[oldest])
                        oldest += 1
            del data
        self.queue.append((entry, stat_info, parts, sizes))
        self._drain()

    def add(self, entry: dict[str, Any], stat_info: Any = None, ids: list[bytes] | None = None) -> None:
        """Queue an entry that needs no reading (a directory, a symlink, a file in the files cache)."""
        self.queue.append((entry, stat_info, ids, None))
        self._drain()

    def _resolve(self, part: Any, size: int) -> bytes:
        """Store one sealed object (waiting for its worker); returns its id."""
        if isinstance(part, bytes):
            return part
        self.in_flight -= size
        prepared = part if isinstance(part, tuple) else part.result()
        return self.writer.store_sealed(TYPE_DATA, prepared)

    def _drain(self, everything: bool = False) -> None:
        while self.queue:
            entry, stat_info, parts, sizes = self.queue[0]
            must = everything or self.in_flight > IN_FLIGHT or len(self.queue) > MAX_QUEUE
            if sizes is not None and not must and not all(_ready(p) for p in parts):  # type: ignore[union-attr]
                return  # the oldest file is still being sealed: keep reading ahead
            self.queue.popleft()
            if sizes is not None:
                try:
                    parts = [self._resolve(p, n) for p, n in zip(parts, sizes)]  # type: ignore[arg-type]
                except FileNotFoundError:
                    # expunged between the walk and the read (only whole files are read by workers)
                    self.vanished += 1
                    self.vanished_bytes += entry.get("s", 0)
                    continue
            self.finish(entry, stat_info, parts)

    def close(self) -> None:
        self._drain(everything=True)
        self.shutdown()

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _ready(part: Any) -> bool:
    return isinstance(part, (bytes, tuple)) or part.done()


def _entry(rel: str, st: os.stat_result) -> dict[str, Any]:
    return {"p": rel, "m": stat.S_IMODE(st.st_mode), "u": st.st_uid, "g": st.st_gid, "mt": st.st_mtime_ns}


def backup(
    repo: Repository,
    node: NodeKey,
    data_path: str,
    uci_file: str | None,
    hostname: str,
    *,
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
        remembered: list[tuple[str, int, int, int, bytes, int]] = []
        files_cached = cache.has_files()  # a first backup skips 20 000 lookups that cannot hit

        def finish(entry: dict[str, Any], key: Any, ids: list[bytes] | None) -> None:
            """An entry whose objects are stored: into the files cache and the tree, in walk order."""
            if key is not None:
                remembered.append((*key, b"".join(ids), gen))  # type: ignore[arg-type]
                entry["o"] = [i.hex() for i in ids]  # type: ignore[union-attr]
            tree.add(entry)
            if len(remembered) >= 2000:
                cache.remember_files(remembered)
                remembered.clear()
                cache.db.execute("COMMIT")
                cache.db.execute("BEGIN")

        pipe = _Pipeline(writer, finish)
        try:
            cache.db.execute("BEGIN")
            items = list_items(data_path, uci_file)
            for n, (rel, full, st) in enumerate(items):
                entry = _entry(rel, st)
                if stat.S_ISDIR(st.st_mode):
                    entry["t"] = "d"
                    pipe.add(entry)
                elif stat.S_ISLNK(st.st_mode):
                    entry["t"] = "l"
                    entry["l"] = os.readlink(full)
                    pipe.add(entry)
                elif stat.S_ISREG(st.st_mode):
                    entry["t"] = "f"
                    entry["s"] = st.st_size
                    files += 1
                    total += st.st_size
                    key = (rel, st.st_size, st.st_mtime_ns, st.st_ino)
                    ids = cache.file_ids(*key) if files_cached else None
                    if ids is not None and all(writer.has(i) for i in ids):
                        pipe.add(entry, key, ids)
                    else:
                        try:
                            pipe.add_file(entry, key, full, st.st_size)
                        except FileNotFoundError:
                            continue  # expunged while we walked
                        read += 1
                else:
                    continue  # sockets, fifos, devices: not state we need
                if progress is not None and n % 500 == 0:
                    progress({"phase": "backup", "files": files, "bytes": total, "read": read})
            pipe.close()
            files, read, total = files - pipe.vanished, read - pipe.vanished, total - pipe.vanished_bytes
            tree_ids = tree.finish()
            writer.flush()
            cache.remember_files(remembered)
            cache.db.execute("COMMIT")
        except BaseException:
            pipe.shutdown()
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
        head = heads.write(repo, node, data_path, name)  # after the snapshot it names
        cache.forget_files_before(gen)
        cache.set_meta("gen", str(gen))
        repo.merge_small_indexes()
    result = {
        "snapshot": name,
        "time": body["time"],
        "seconds": round(time.monotonic() - started, 3),
        "head": head["seq"],
        **stats,
    }
    if orphans:
        result["recovered_packs"] = orphans
    return result


def list_items(data_path: str, uci_file: str | None) -> Any:
    yield from walk(data_path)
    if uci_file and os.path.isfile(uci_file):
        st = os.stat(uci_file)
        yield "uci", os.path.dirname(uci_file), os.stat(os.path.dirname(uci_file))
        yield "uci/mailserver", uci_file, st
