"""The mail container as Settings describe it: its spec, rootfs and runtime handle."""

from __future__ import annotations

import hashlib
import logging
import os

from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.container.lxcconf import BindMount, ContainerSpec
from secumail.container.runtime import Container
from secumail.errors import ContainerError, SecumailError
from secumail.mail import layout
from secumail.mail.layout import CONTAINER_DATA

log = logging.getLogger(__name__)


def rootfs_path(settings: Settings) -> str:
    return os.path.join(settings.container.lxc_path, settings.main.container, "rootfs")


def image_cache_dir(settings: Settings) -> str:
    """Built images are cached here (keyed by package list); $SECUMAIL_IMAGE_CACHE overrides."""
    return os.environ.get("SECUMAIL_IMAGE_CACHE") or os.path.join(settings.container.lxc_path, ".images")


def _gateway(settings: Settings) -> str | None:
    mode = settings.container.gateway
    if mode == "none" or settings.container.network_mode == "host":
        return None
    if mode == "auto" and not os.path.exists("/etc/openwrt_release"):
        return None  # a PC or a test host: the container talks to the host only
    return str(settings.container.host_address.ip)


def data_mounts(data_path: str) -> tuple[BindMount, ...]:
    """The bind mounts of data_path (secumail.mail.layout.MOUNTS): never mesh/, backup/ or ssl/acme/."""
    return tuple(BindMount(os.path.join(data_path, m.sub), m.target, read_only=m.read_only)
                 for m in layout.MOUNTS)  # fmt: skip


def data_masks() -> tuple[str, ...]:
    """Container paths hidden below the mounts (the ACME account keys under ssl/)."""
    return tuple(f"{CONTAINER_DATA}/{rel}" for rel in layout.MASKED)


def container_idmap() -> IdMap:
    """The id map of the mail container: root's range in /etc/subuid and /etc/subgid (added if missing)."""
    return idmap_mod.for_root()


def spec_for(settings: Settings, idmap: IdMap | None = None) -> ContainerSpec:
    c = settings.container
    return ContainerSpec(
        name=settings.main.container,
        lxcpath=c.lxc_path,
        rootfs=rootfs_path(settings),
        bridge=c.bridge,
        bridge_address=str(c.host_address),
        address=str(c.address),
        gateway=_gateway(settings),
        memory_mb=c.memory,
        cgroup_dir=c.cgroup,
        mounts=data_mounts(settings.main.data_path),
        masks=data_masks(),
        network_mode=c.network_mode,
        hostname=settings.main.fqdn,
        hwaddr=stable_hwaddr(settings.main.container),
        idmap=idmap or container_idmap(),
    )


def stable_hwaddr(name: str) -> str:
    """A locally administered MAC fixed by the container's name.

    A new random MAC at each start leaves the host's ARP entry pointing at the old veth: after a
    restart, replies went to a dead MAC until the entry expired (~30 s without an SMTP banner).
    """
    digest = hashlib.sha256(f"secumail-container:{name}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def container_for(settings: Settings) -> Container:
    return Container(settings.main.container, settings.container.lxc_path)


def service_address(settings: Settings) -> str:
    """Where the mail services answer from the host."""
    return "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)


def installed(settings: Settings) -> Container:
    container = container_for(settings)
    if not container.exists() or not os.path.isdir(rootfs_path(settings)):
        raise ContainerError(f"the mail container {settings.main.container!r} is not installed: run 'mailctl install'")
    return container


def running_container(settings: Settings) -> Container:
    container = installed(settings)
    if not container.running():
        raise ContainerError(f"the mail container {settings.main.container!r} is not running: run 'mailctl start'")
    return container


def running_executor(settings: Settings) -> Container | None:
    """The mail container when it exists and runs, else None (no error: nothing to tell then)."""
    lxc_path = settings.container.lxc_path
    if not os.path.isabs(lxc_path) or not os.path.isdir(os.path.join(lxc_path, settings.main.container)):
        return None
    container = container_for(settings)
    try:
        return container if container.running() else None
    except SecumailError as exc:  # lxc tools missing or unusable: nothing is running that we could tell
        log.info("mail container state unknown (%s); not reloading", exc)
        return None


def container_state(settings: Settings) -> str:
    """RUNNING, STOPPED, … or UNKNOWN when lxc cannot tell."""
    try:
        return container_for(settings).state()
    except SecumailError as exc:
        log.debug("container state unknown: %s", exc)
        return "UNKNOWN"
