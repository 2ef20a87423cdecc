"""The container's ids on data_path: what the host writes is handed to the container's root.

The container is unprivileged: its ids are shifted (secumail.container.idmap),
so the parts of data_path it mounts (secumail.mail.layout) are owned by the
mapped ids. `ContainerRuntime` is what the mail layer is handed
(secumail.mail.apply.MailRuntime): the running container and `hand_over`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from secumail.appliance.spec import rootfs_path, running_executor
from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.mail import layout
from secumail.mail.store import DOVECOT_FILES

log = logging.getLogger(__name__)


def hand_over(settings: Settings, *subs: str) -> None:
    """Give files the host agent wrote below data_path/<sub> to the container's root (its id map),
    so the services inside can read them: a config generation, DKIM keys, the certificate and key.
    Nothing to do for a container without an id map. Then the password files (`users`, the app passwords
    per service) get Dovecot's group."""
    data = settings.main.data_path
    rootfs = rootfs_path(settings)
    mapping = idmap_mod.rootfs_map(rootfs)
    if mapping is not None:
        for sub in subs:
            if sub == "ssl":
                for name in layout.SSL_FILES:
                    idmap_mod.shift_tree(os.path.join(data, "ssl", name), mapping)
            else:
                idmap_mod.shift_tree(os.path.join(data, sub), mapping)
    group = idmap_mod.image_id(rootfs, "dovecot")
    for name in DOVECOT_FILES:
        path = os.path.join(settings.layout.config, name)
        if group is not None and os.path.isfile(path):
            # Dovecot's auth process runs as user dovecot and reads the passwords through its group.
            owner = mapping.uid(0) if mapping else 0
            os.chown(path, owner, mapping.gid(group) if mapping else group)
            os.chmod(path, 0o640)


def shift_data(settings: Settings, idmap: IdMap, old: IdMap | None = None) -> int:
    """Hand the mounted parts of data_path to the container's ids (idempotent; an install from before
    the id map is migrated). ssl/ itself and its ACME keys stay the host's: only the certificate and
    key move. Returns how many entries changed."""
    data = settings.main.data_path
    changed = 0
    for mount in layout.MOUNTS:
        path = os.path.join(data, mount.sub)
        if mount.sub == "ssl":
            for name in layout.SSL_FILES:
                changed += idmap_mod.shift_tree(os.path.join(path, name), idmap, old)
        else:
            changed += idmap_mod.shift_tree(path, idmap, old)
    hand_over(settings)  # `users` gets Dovecot's group
    if changed:
        log.info("handed %d entries of %s to the container's ids (%s)", changed, data, idmap.key)
    return changed


class ContainerRuntime:
    """The mail container as the mail layer sees it (secumail.mail.apply.MailRuntime)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def running(self) -> Any:
        return running_executor(self.settings)

    def hand_over(self, *subs: str) -> None:
        hand_over(self.settings, *subs)
