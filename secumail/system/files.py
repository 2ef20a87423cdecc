"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


def atomic_write(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temp file in the same directory, fsync, rename.

    The file is created with `mode` from the start, so a secret is never
    briefly world-readable.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def write_json(path: str, data: object, mode: int = 0o600) -> None:
    """`data` as indented UTF-8 JSON with sorted keys, written atomically: the one form of our state files
    (a person reading one sees folder and mailbox names as they are)."""
    import json

    atomic_write(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", mode)


def tighten_umask() -> int:
    """Make the umask at least 022 and return the new one.

    Directories are made with os.makedirs (its parents get the umask's mode): a caller's `umask 000`
    must not leave data_path or the key directories writable by others. Secret files get their
    mode explicitly (atomic_write), never from the umask.
    """
    old = os.umask(0o022)
    os.umask(old | 0o022)
    return old | 0o022


def make_walkable_dirs(path: str, mode: int = 0o755) -> None:
    """os.makedirs, and every directory it made (parents too) gets `mode` whatever the umask.

    The unprivileged container's root must walk through lxc_path and data_path to its rootfs and bind
    mounts; secumaild started by rpcd runs with umask 077, which would make them 0700. Directories that
    were already there keep their mode: their owner chose it.
    """
    made: list[str] = []
    at = os.path.abspath(path)
    while not os.path.isdir(at):
        made.append(at)
        at = os.path.dirname(at)
    os.makedirs(path, exist_ok=True)
    for directory in reversed(made):
        os.chmod(directory, mode)


def fsync_dir(directory: str) -> None:
    """Make a rename in `directory` durable."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_secret(path: str, owner: str, fix: str) -> str:
    """The first line of a secret file (a password kept 0600); SecumailError "<owner>: no password stored
    (<path>); <fix>" when it is missing."""
    from secumail.errors import SecumailError

    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except FileNotFoundError:
        raise SecumailError(f"{owner}: no password stored ({path}); {fix}") from None
    except OSError as exc:
        raise SecumailError(f"{owner}: cannot read {path}: {exc.strerror}") from None


@contextlib.contextmanager
def file_lock(path: str, shared: bool = False) -> Iterator[None]:
    """Hold an flock on `path` (created if missing) for the duration of the block."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
