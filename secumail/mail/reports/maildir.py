"""Read a Maildir the way the host may: read-only, never through a link, never blocking.

The mail tree is written by the container, so any name in it may be a symbolic
link or a FIFO planted there. Every directory and file is opened relative to its
parent with O_NOFOLLOW, files with O_NONBLOCK and checked to be regular, and
nothing is renamed or flagged (a message in new/ stays new for Dovecot).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
SKIPPED_FOLDERS = (".Trash",)


@dataclass(frozen=True)
class MessageFile:
    folder: str  # "" for the inbox, ".Junk", ...
    sub: str  # cur / new
    name: str
    mtime: float
    size: int

    @property
    def shown(self) -> str:
        """How a refusal line names it: folder/sub/name."""
        return "/".join(p for p in (self.folder, self.sub, self.name) if p)


@contextlib.contextmanager
def _opendir(path_or_name: str, dir_fd: int | None = None) -> Iterator[int]:
    fd = os.open(path_or_name, _DIR, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def open_maildir(root: str, *parts: str) -> int:
    """A descriptor of root/parts..., each step refusing a link (OSError when it is one or is missing)."""
    fd = os.open(root, _DIR)
    try:
        for part in parts:
            if not part or part in (".", "..") or "/" in part:
                raise OSError(f"bad path component {part!r}")
            nxt = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _subdirs(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))


def list_messages(maildir_fd: int, since: float) -> list[MessageFile]:
    """Message files of the inbox and every folder but Trash delivered at or after `since`."""
    folders = [""] + [d for d in _subdirs(maildir_fd) if d.startswith(".") and d not in SKIPPED_FOLDERS]
    found: list[MessageFile] = []
    for folder in folders:
        try:
            with contextlib.ExitStack() as stack:
                folder_fd = maildir_fd if not folder else stack.enter_context(_opendir(folder, maildir_fd))
                for sub in ("cur", "new"):
                    try:
                        sub_fd = stack.enter_context(_opendir(sub, folder_fd))
                    except OSError:
                        continue
                    found.extend(_files(sub_fd, folder, sub, since))
        except OSError:
            continue  # a folder that is a link or vanished: not ours to read
    return found


def _files(fd: int, folder: str, sub: str, since: float) -> Iterator[MessageFile]:
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime >= since:
                yield MessageFile(folder, sub, entry.name, st.st_mtime, st.st_size)


def read_message(maildir_fd: int, message: MessageFile, limit: int) -> bytes:
    """The bytes of `message`, at most `limit` (OSError if it is no longer a regular file)."""
    with contextlib.ExitStack() as stack:
        parent = maildir_fd
        for part in (message.folder, message.sub):
            if part:
                parent = stack.enter_context(_opendir(part, parent))
        fd = os.open(message.name, _FILE, dir_fd=parent)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(f"{message.shown} is not a regular file")
            chunks, total = [], 0
            while total <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
