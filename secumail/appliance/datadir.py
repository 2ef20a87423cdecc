"""data_path as the SecuBox mail server lays it out, and the Postfix queue kept in it."""

from __future__ import annotations

import logging
import os
import shutil

from secumail.appliance.spec import rootfs_path
from secumail.config.settings import Settings
from secumail.mail.layout import QUEUE_DIRECTORY
from secumail.system.files import make_walkable_dirs

log = logging.getLogger(__name__)

# The Postfix queue is state too: data_path/spool is bind-mounted on the image's queue directory, so a
# new image (mailctl image import, a rebuilt rootfs) or a restored backup keeps the queued mail.
_QUEUE_SUBDIRS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "maildrop",
                  "saved", "trace")  # fmt: skip


def ensure_layout(settings: Settings) -> None:
    """data_path as the SecuBox mail server lays it out, plus dkim/; a self-signed certificate until ACME runs."""
    from secumail.mail.selfsigned import ensure_selfsigned

    data, at = settings.main.data_path, settings.layout
    make_walkable_dirs(data)
    # The container's root walks through data_path to its mounts, whichever step made it first (the
    # setup's state, under secumaild's umask, makes it 0700): like each mounted directory, its mode is
    # set, not inherited.
    for path, mode in ((data, 0o755), (at.config, 0o755), (at.mail, 0o755), (at.home, 0o755), (at.ssl, 0o755),
                       (at.acme, 0o700), (at.dkim, 0o700), (at.relay, 0o700), (at.spool, 0o755),
                       (at.clamav, 0o755), (at.mta_sts, 0o755), (at.autoconfig_root, 0o755),
                       (at.dav, 0o755)):  # fmt: skip
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
    ensure_selfsigned(data, settings.main.fqdn)


def ensure_spool(settings: Settings, running: bool = False) -> list[str]:
    """data_path/spool exists (LXC refuses to start without a bind mount's source). An install from
    before the queue moved keeps its queue in the rootfs: while the container is stopped, its queue
    directories are moved over (ownership is fixed inside the container at start). Returns what moved."""
    spool = settings.layout.spool
    make_walkable_dirs(spool)
    old = os.path.join(rootfs_path(settings), QUEUE_DIRECTORY.lstrip("/"))
    if running or os.path.ismount(old) or any(os.path.exists(os.path.join(spool, d)) for d in _QUEUE_SUBDIRS):
        return []
    moved = []
    for sub in _QUEUE_SUBDIRS:
        source = os.path.join(old, sub)
        if os.path.isdir(source) and os.listdir(source):
            shutil.move(source, os.path.join(spool, sub))
            moved.append(sub)
    if moved:
        log.info("moved the Postfix queue (%s) from the image into %s", ", ".join(moved), spool)
    return moved
