"""The container's lifecycle lock: one install, start, stop or image switch at a time, across processes.

`mailctl update` run from a shell must not meet secumaild starting the container it has just stopped;
secumaild's reconciler asks `busy()` and leaves the container alone meanwhile. The lock is taken once,
by the entry (an operation or a daemon job), never by the steps inside it: flock does not nest.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from secumail.config.layout import DataLayout
from secumail.config.settings import Settings


@contextlib.contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold the lock for the block (waiting for whoever holds it)."""
    os.makedirs(settings.main.data_path, mode=0o755, exist_ok=True)
    fd = os.open(DataLayout(settings.main.data_path).lifecycle_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def busy(settings: Settings) -> bool:
    """Whether another process (or job) is installing, starting, stopping or switching the container now."""
    try:
        fd = os.open(DataLayout(settings.main.data_path).lifecycle_lock, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False
