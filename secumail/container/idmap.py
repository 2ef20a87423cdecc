"""The mail container's user-namespace id map: root inside is an unprivileged id outside.

Root on the host starts the container, so LXC writes the map itself (no
newuidmap): `lxc.idmap = u 0 <base> 65536` and the same for groups. The base
is root's range in /etc/subuid and /etc/subgid when it has one, else
DEFAULT_BASE, which is then added there so no other tool hands the range out
again. OpenWrt has no shadow-utils: the files are created the same way, and
LXC (started by root) only reads the map from the container config.

A file the container uses must be owned by mapped ids: uid u inside is
base+u outside. `shift_tree` moves a tree into the map (ids below 65536, or
in the range of a previous map, are moved; ids already in the map are left),
so it is idempotent and also migrates an install made before the map. A
marker file beside the rootfs (`<rootfs>.idmap`, outside what the container
sees) records the map a rootfs was shifted to, so a rootfs is walked once.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass

from secumail.errors import ContainerError

SIZE = 65536
DEFAULT_BASE = 100000
SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


@dataclass(frozen=True)
class IdMap:
    """uid u (gid g) inside the container is uid_base+u (gid_base+g) on the host, for u, g < size."""

    uid_base: int
    gid_base: int
    size: int = SIZE

    def __post_init__(self) -> None:
        # A base below the size would make "already shifted" and "not shifted yet" ambiguous.
        for base in (self.uid_base, self.gid_base):
            if base < self.size or base + self.size > 2**32 - 1:
                raise ContainerError(f"id map base {base}: must be at least {self.size} and leave room for "
                                     f"{self.size} ids")  # fmt: skip

    def uid(self, inner: int) -> int:
        return self.uid_base + inner

    def gid(self, inner: int) -> int:
        return self.gid_base + inner

    @property
    def key(self) -> str:
        """Names the map in cache keys and the rootfs marker."""
        return f"u{self.uid_base}-g{self.gid_base}-n{self.size}"

    def lxc_lines(self) -> list[str]:
        return [f"lxc.idmap = u 0 {self.uid_base} {self.size}", f"lxc.idmap = g 0 {self.gid_base} {self.size}"]

    @classmethod
    def from_key(cls, text: str) -> IdMap | None:
        try:
            u, g, n = text.strip().split("-")
            if u[0] != "u" or g[0] != "g" or n[0] != "n":
                return None
            return cls(int(u[1:]), int(g[1:]), int(n[1:]))
        except (ValueError, IndexError, ContainerError):
            return None


# -- /etc/subuid, /etc/subgid ---------------------------------------------------------------------


def _ranges(path: str) -> list[tuple[str, int, int]]:
    """(owner, start, count) of each valid line."""
    out = []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ContainerError(f"cannot read {path}: {exc}") from None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or line.lstrip().startswith("#"):
            continue
        with contextlib.suppress(ValueError):
            out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def _base_for_root(path: str, size: int, write: bool) -> int:
    """Root's range in `path` (subuid/subgid syntax), added there when missing."""
    ranges = _ranges(path)
    for owner, start, count in ranges:
        if owner in ("root", "0") and count >= size and start >= size:
            return start
    base = DEFAULT_BASE
    taken = sorted((start, start + count) for _owner, start, count in ranges)
    for start, end in taken:  # the first free slot at or after the default
        if start < base + size and base < end:
            base = -(-end // size) * size
    if write:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                if os.path.getsize(path) and not _ends_with_newline(path):
                    handle.write("\n")
                handle.write(f"root:{base}:{size}\n")
            os.chmod(path, 0o644)
        except OSError as exc:
            raise ContainerError(f"cannot add root's id range to {path}: {exc}") from None
    return base


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def for_root(subuid: str = SUBUID, subgid: str = SUBGID, *, write: bool = True) -> IdMap:
    """The map for the mail container: root's subordinate ranges (made when missing and `write`)."""
    return IdMap(_base_for_root(subuid, SIZE, write), _base_for_root(subgid, SIZE, write))


def user_namespaces_available() -> bool:
    return os.path.exists("/proc/self/ns/user")


# -- ownership ------------------------------------------------------------------------------------


def _remap(value: int, base: int, size: int, old_base: int | None) -> int:
    if old_base is not None and old_base <= value < old_base + size:
        value -= old_base
    elif base <= value < base + size:
        return value
    if value < size:
        return base + value
    return value  # outside both maps: not ours to move


def shift_tree(root: str, new: IdMap, old: IdMap | None = None, *, skip: tuple[str, ...] = ()) -> int:
    """Move every owner below `root` into `new` (see module doc); returns how many entries changed.

    Symlinks are not followed (lchown), other file systems mounted below are not
    entered, `skip` names paths (relative to root) left alone with what is below.
    chown clears setuid/setgid bits on files: they are set again (postdrop needs its setgid bit).
    """
    if old == new:
        old = None
    changed = 0
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        return 0
    skipped = {os.path.normpath(os.path.join(root, rel)) for rel in skip}

    def one(path: str, st: os.stat_result) -> None:
        nonlocal changed
        uid = _remap(st.st_uid, new.uid_base, new.size, old.uid_base if old else None)
        gid = _remap(st.st_gid, new.gid_base, new.size, old.gid_base if old else None)
        if (uid, gid) == (st.st_uid, st.st_gid):
            return
        os.lchown(path, uid, gid)
        if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(st.st_mode))
        changed += 1

    one(root, top)
    if not stat.S_ISDIR(top.st_mode):
        return changed
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise ContainerError(f"cannot shift the owners below {directory}: {exc}") from None
        for entry in entries:
            path = entry.path
            if path in skipped:
                continue
            st = entry.stat(follow_symlinks=False)
            if st.st_dev != top.st_dev:
                continue
            one(path, st)
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
    return changed


def marker_path(rootfs: str) -> str:
    return os.path.normpath(rootfs) + ".idmap"


def rootfs_map(rootfs: str) -> IdMap | None:
    """The map `rootfs` was shifted to (its marker), None when it never was."""
    try:
        with open(marker_path(rootfs), encoding="utf-8") as handle:
            return IdMap.from_key(handle.read())
    except OSError:
        return None


def mark(rootfs: str, idmap: IdMap) -> None:
    from secumail.system.files import atomic_write

    atomic_write(marker_path(rootfs), idmap.key + "\n", 0o644)


def ensure_rootfs(rootfs: str, idmap: IdMap) -> int:
    """Shift `rootfs` into `idmap` unless its marker says it is already; returns entries changed."""
    current = rootfs_map(rootfs)
    if current == idmap:
        return 0
    changed = shift_tree(rootfs, idmap, current)
    mark(rootfs, idmap)
    return changed


def chown_root(path: str, idmap: IdMap | None) -> None:
    """Give one file or dir the container's root (a file the host just wrote into the rootfs)."""
    if idmap is not None:
        os.lchown(path, idmap.uid(0), idmap.gid(0))


def image_id(rootfs: str, name: str, database: str = "group") -> int | None:
    """The id of user/group `name` in the image's /etc/passwd or /etc/group (inner id), None if absent."""
    try:
        with open(os.path.join(rootfs, "etc", database), encoding="utf-8") as handle:
            for line in handle:
                parts = line.split(":")
                if len(parts) > 2 and parts[0] == name:
                    return int(parts[2])
    except (OSError, ValueError):
        return None
    return None
