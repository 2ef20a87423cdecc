"""Write restored files in worker threads: objects read from open packs, opened, written, renamed.

The walk of the tree, the path checks and the index lookups stay in the calling
thread (in tree order); each file's objects are then read with pread from pack
descriptors opened once, authenticated, decompressed and written; the file gets its mode, owner and
mtime through the descriptor (a new name is written in place, an existing file replaced through a
temp file and a rename). Decryption, zstd, hashing and file writes
release the GIL, so two cores both work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from secumail.errors import BackupFormatError
from secumail.mesh.repo import Repository

WORKERS = 2
IN_FLIGHT = 64  # files submitted and not yet collected
MAX_PACK_FDS = 128  # open pack descriptors; all are closed (after a drain) past this

Location = tuple[int, str, int, int, int, bytes]  # pack fd, pack name, offset, length, type, object id


def temp_name(path: str) -> str:
    """The temp file beside `path` (a leftover of a killed restore has the same name)."""
    base = os.path.basename(path)
    if len(base) > 80:
        base = base[:60] + "-" + hashlib.sha256(base.encode(errors="surrogateescape")).hexdigest()[:16]
    return os.path.join(os.path.dirname(path), ".tmp-restore-" + base)


class FileWriter:
    """Restores file entries; `done` yields (rel, error or None) in submission order."""

    def __init__(self, repo: Repository, *, as_root: bool) -> None:
        self.repo = repo
        self.as_root = as_root
        workers = min(WORKERS, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="restore") if workers else None
        self.fds: dict[str, int] = {}
        self.pending: deque[tuple[str, str, Future[None] | BaseException | None]] = deque()
        self.temps: set[str] = set()

    # index lookups and pack descriptors (calling thread) ---------------------------
    def locate(self, hex_ids: list[str]) -> list[Location]:
        """Where each object is; BackupFormatError (as load_object words it) when one cannot be found."""
        out = []
        for hex_id in hex_ids:
            oid = bytes.fromhex(hex_id)
            where = self.repo.cache.lookup(oid)
            if where is None:
                raise BackupFormatError(f"object {oid.hex()} is referenced but not in any index")
            pack, offset, length, obj_type = where
            out.append((self._fd(pack, oid), pack, offset, length, obj_type, oid))
        return out

    def _fd(self, pack: str, oid: bytes) -> int:
        fd = self.fds.get(pack)
        if fd is None:
            if len(self.fds) >= MAX_PACK_FDS:
                self.wait_all()
                self._close_fds()
            try:
                fd = os.open(self.repo.file_path("data", pack), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise BackupFormatError(f"object {oid.hex()}: its pack {pack} is missing") from None
            self.fds[pack] = fd
        return fd

    def _close_fds(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}

    # writing -------------------------------------------------------------------------
    def submit(self, rel: str, path: str, entry: dict[str, Any], locations: list[Location]) -> None:
        tmp = temp_name(path)
        if tmp in self.temps:  # the same name twice in a snapshot: never two writers on one temp file
            self.wait_all()
        if self.pool is None:
            self.pending.append((rel, tmp, _outcome(self._write, path, tmp, entry, locations)))
            return
        self.temps.add(tmp)
        self.pending.append((rel, tmp, self.pool.submit(self._write, path, tmp, entry, locations)))

    def _write(self, path: str, tmp: str, entry: dict[str, Any], locations: list[Location]) -> None:
        """A new name is written in place; an existing file is replaced through a temp file and a rename.

        Writing in place saves a rename per file (a restore into an empty directory is
        mostly new names); a file that fails half-way is deleted either way, and one
        that existed before is never left half-written.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd, written = os.open(path, flags, 0o600), path
        except FileExistsError:
            try:
                fd = os.open(tmp, flags, 0o600)
            except FileExistsError:
                os.unlink(tmp)  # a leftover of a killed restore
                fd = os.open(tmp, flags, 0o600)
            written = tmp
        try:
            try:
                for pack_fd, pack, offset, length, obj_type, oid in locations:
                    sealed = os.pread(pack_fd, length, offset)
                    try:
                        data = self.repo.cipher.open_object(obj_type, oid, sealed)
                    except BackupFormatError as exc:
                        raise BackupFormatError(f"{exc} in pack {pack}") from None
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                os.fchmod(fd, entry["m"])
                if self.as_root:
                    os.fchown(fd, entry["u"], entry["g"])
                os.utime(fd, ns=(entry["mt"], entry["mt"]))
            finally:
                os.close(fd)
            if written == tmp:
                os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(written)
            raise

    # collecting ------------------------------------------------------------------------
    def done(self, everything: bool = False) -> Any:
        """(rel, exception or None) of finished files, oldest first; waits while over IN_FLIGHT."""
        while self.pending:
            rel, tmp, outcome = self.pending[0]
            if isinstance(outcome, Future):
                if not everything and len(self.pending) <= IN_FLIGHT and not outcome.done():
                    return
                outcome = outcome.exception()
            self.pending.popleft()
            self.temps.discard(tmp)
            yield rel, outcome

    def wait_all(self) -> None:
        """Wait for every submitted file (their outcomes stay queued for `done`)."""
        for _rel, _tmp, outcome in self.pending:
            if isinstance(outcome, Future):
                with contextlib.suppress(BaseException):
                    outcome.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self._close_fds()


def _outcome(fn: Any, *args: Any) -> BaseException | None:
    try:
        fn(*args)
    except BackupFormatError as exc:
        return exc
    return None
