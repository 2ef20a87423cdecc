"""Keep the container's logs small: a router has a few MB for /var/log, and nothing else rotates them.

mail.log (written by Postfix's postlogd) and dovecot.log (Dovecot's log
process) are files in the container's rootfs, seen from the host. When one
reaches the cap it is renamed to <name>.1, replacing the previous .1 (one old
file is kept, so the logs take at most 2 x 2 x cap), and its writer is told to
reopen it: `postfix reload` (what `postfix logrotate` does: master restarts
postlogd) and `doveadm log reopen`. Lines written between the rename and the
reopen land in .1, so nothing is lost. A check is two stat() calls: cheap
enough for every pass of the daemon's loop.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# rootfs-relative path -> the command (inside the container) that makes its writer reopen it.
LOGS: dict[str, list[str]] = {
    "var/log/mail.log": ["postfix", "reload"],
    "var/log/dovecot.log": ["doveadm", "log", "reopen"],
}
ROTATED_SUFFIX = ".1"


def due(rootfs: str, max_bytes: int) -> list[str]:
    """The logs (rootfs-relative) at or over `max_bytes`."""
    over = []
    for rel in LOGS:
        try:
            if os.stat(os.path.join(rootfs, rel)).st_size >= max_bytes:
                over.append(rel)
        except FileNotFoundError:
            continue
    return over


def rotate(rootfs: str, max_bytes: int, executor: Any | None) -> list[str]:
    """Rotate every log that is due; return which. `executor` (exec(args) -> Result) is the running
    container, or None when it is stopped (then nobody holds the files open and a rename is enough).
    Passing None while the services run would leave them writing into the renamed file."""
    rotated = []
    for rel in due(rootfs, max_bytes):
        path = os.path.join(rootfs, rel)
        os.replace(path, path + ROTATED_SUFFIX)
        rotated.append(rel)
        if executor is not None:
            res = executor.exec(list(LOGS[rel]))
            if res.returncode != 0:  # the writer keeps the old file; the next pass rotates it again
                detail = (res.stderr or res.stdout or "").strip().splitlines()
                log.warning("%s rotated but '%s' failed: %s", rel, " ".join(LOGS[rel]),
                            detail[-1] if detail else f"exit status {res.returncode}")
    if rotated:
        log.info("rotated %s at %d bytes", ", ".join(rotated), max_bytes)
    return rotated


def tail(path: str, lines: int) -> list[str]:
    """The last `lines` lines of a file without reading all of it ([] when it does not exist)."""
    if lines <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            block, data = 8192, b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(block, size)
                size -= step
                handle.seek(size)
                data = handle.read(step) + data
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def tail_with_rotated(path: str, lines: int) -> list[str]:
    """The last `lines` lines of a log, reaching into its rotated file when the current one is shorter."""
    current = tail(path, lines)
    if len(current) >= lines:
        return current
    return tail(path + ROTATED_SUFFIX, lines - len(current)) + current
