"""The one place the mail layer reaches the container runtime (secumail.container).

Kept apart so the account code works with no container at all (a router
before `mailctl install`, the unit tests) and so a change of the runtime API
touches one function.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from secumail.errors import SecumailError

log = logging.getLogger(__name__)


def running_executor(settings: Any):  # -> deploy.Executor | None
    """The mail container when it exists and runs, else None."""
    try:
        from secumail.container.runtime import Container
    except ImportError:
        return None
    lxc_path = settings.container.lxc_path
    if not os.path.isabs(lxc_path) or not os.path.isdir(os.path.join(lxc_path, settings.main.container)):
        return None
    container = Container(settings.main.container, lxc_path)
    try:
        return container if container.running() else None
    except SecumailError as exc:  # lxc tools missing or unusable: nothing is running that we could tell
        log.info("mail container state unknown (%s); not reloading", exc)
        return None


def container_idmap(settings: Any):  # -> secumail.container.idmap.IdMap | None
    """The id map the installed container's rootfs was shifted to; None for none (or no container)."""
    try:
        from secumail.container import idmap
        from secumail.container.service import rootfs_path
    except ImportError:
        return None
    return idmap.rootfs_map(rootfs_path(settings))


def hand_over(settings: Any, *subs: str) -> None:
    """Give files the host agent wrote below data_path/<sub> to the container's root (its id map),
    so the services inside can read them: a config generation, DKIM keys, the certificate and key.
    Nothing to do for a container without an id map. Then `users` gets Dovecot's group."""
    from secumail.container import idmap as idmap_mod
    from secumail.container.service import rootfs_path
    from secumail.mail import layout

    data = settings.main.data_path
    mapping = container_idmap(settings)
    if mapping is not None:
        for sub in subs:
            if sub == "ssl":
                for name in layout.SSL_FILES:
                    idmap_mod.shift_tree(os.path.join(data, "ssl", name), mapping)
            else:
                idmap_mod.shift_tree(os.path.join(data, sub), mapping)
    users = os.path.join(data, "config", "users")
    group = idmap_mod.image_id(rootfs_path(settings), "dovecot")
    if group is not None and os.path.isfile(users):
        # Dovecot's auth process runs as user dovecot and reads the passwords through its group.
        owner = mapping.uid(0) if mapping else 0
        os.chown(users, owner, mapping.gid(group) if mapping else group)
        os.chmod(users, 0o640)
