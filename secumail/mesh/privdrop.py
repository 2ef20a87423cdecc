"""Run a peer's SFTP connection without root (the `sftpd --fd` worker secumaild starts).

The worker parses everything a peer sends (SSH, SFTP), so it should hold no more
than the peer's own place. Before serving, still root, it hands the peer areas
(`backup/inbox/`, `backup/peers/`) to `mesh.user` (OpenWrt and Debian have
`nobody`), makes our repository readable by that user's group (`backup/repo`:
root:<group>, 0750/0640 — it holds only what every peer already holds:
encrypted packs, indexes and snapshots, the scrypt-wrapped key slot), and
becomes that user. It then cannot read the node key, the master key, the mail,
the configuration or anything else on the router, nor write outside the peer
areas.

Not done (one line in the log, and the worker stays root) when the user does not
exist, when we are not root, or when a directory above data_path/backup is not
searchable by that user: the worker could not reach the files it serves.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat

from secumail.config.layout import DataLayout

log = logging.getLogger(__name__)


def _searchable(path: str, uid: int, gid: int) -> str | None:
    """The first directory from / down to `path` that uid/gid may not enter, if any."""
    current = "/"
    for part in [p for p in os.path.abspath(path).split("/") if p]:
        st = os.stat(current)
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bit:
            return current
        current = os.path.join(current, part)
    return None


def _own(root: str, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    """Give a tree to uid:gid (uid -1: keep the owner) with these modes; symlinks are left alone."""
    for dirpath, dirs, files in os.walk(root):
        for name in [None, *dirs, *files]:
            path = dirpath if name is None else os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            want = dir_mode if stat.S_ISDIR(st.st_mode) else file_mode
            if (uid != -1 and st.st_uid != uid) or st.st_gid != gid:
                os.lchown(path, uid, gid)
            if stat.S_IMODE(st.st_mode) != want:
                os.chmod(path, want, follow_symlinks=False)


def drop(data_path: str, user: str) -> bool:
    """Prepare the peer areas for `user` and become it; False (and a log line) if not possible."""
    if not user:
        return False
    if os.geteuid() != 0:
        log.info("mesh: not root, nothing to drop")
        return False
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        log.warning("mesh: no user %r on this system; the SFTP worker keeps root", user)
        return False
    uid, gid = entry.pw_uid, entry.pw_gid
    layout = DataLayout(data_path)
    backup = layout.backup
    blocked = _searchable(os.path.dirname(os.path.abspath(backup)), uid, gid)
    if blocked is not None:
        log.warning("mesh: %s is not searchable by %s; the SFTP worker keeps root", blocked, user)
        return False
    for sub in (layout.inbox, layout.peer_stores, layout.repository):
        os.makedirs(sub, mode=0o700, exist_ok=True)
    os.chown(backup, 0, gid)
    os.chmod(backup, 0o710)  # noqa: S103 - its group may enter, not list; the recovery staging dirs stay root's
    _own(layout.inbox, uid, gid, 0o700, 0o600)
    _own(layout.peer_stores, uid, gid, 0o700, 0o600)
    _own(layout.repository, -1, gid, 0o750, 0o640)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    log.info("mesh: SFTP worker runs as %s (uid %d)", user, uid)
    return True
