"""Install, start, stop, restart: image + data layout + container + checked config.

The container holds packages only; every piece of state is in data_path. Only
the parts the mail services need are bind-mounted (secumail.mail.layout), and
the container is unprivileged (secumail.appliance.ownership).
"""

from __future__ import annotations

import os
from typing import Any

from secumail.appliance import host
from secumail.appliance.datadir import ensure_layout, ensure_spool
from secumail.appliance.image import Progress, ensure_image, install_hooks, quiet
from secumail.appliance.ownership import ContainerRuntime, shift_data
from secumail.appliance.spec import container_for, container_idmap, installed, rootfs_path, service_address, spec_for
from secumail.config.settings import Settings
from secumail.container import binfmt
from secumail.container import idmap as idmap_mod
from secumail.container.provision.debian import host_arch
from secumail.container.runtime import Container
from secumail.errors import ContainerError
from secumail.mail.layout import CONTAINER_DATA
from secumail.system.banner import wait_for_greeting


def install(settings: Settings, progress: Progress = quiet) -> dict[str, Any]:
    """Image, data layout, container, checked config, services up. Safe to run again: no mail or
    account is lost, the config is re-rendered and re-checked."""
    from secumail.mail import deploy, store

    ensure_layout(settings)
    with store.lock(settings.main.data_path):  # the primary domain and empty maps exist from the start
        store.save(settings.main.data_path, store.load(settings.main.data_path, settings.main.domain))
    image = ensure_image(settings, progress)
    install_hooks(rootfs_path(settings))
    container = define_and_start(settings, progress)
    progress("rendering and checking the mail config inside the container")
    result = deploy.deploy(settings, container, hand_over=ContainerRuntime(settings).hand_over)
    progress("waiting for the SMTP banner")
    seconds = wait_for_smtp(settings)
    host.sync_firewall(settings)
    return {
        "result": "ok",
        "image": image,
        "container": container.state(),
        "generation": result["generation"],
        "smtp": f"{service_address(settings)}:{settings.ports.smtp}",
        "banner_seconds": round(seconds, 2),
    }


def define_and_start(settings: Settings, progress: Progress = quiet) -> Container:
    from secumail.container import network

    if not idmap_mod.user_namespaces_available():
        raise ContainerError("this kernel has no user namespaces (CONFIG_USER_NS): the mail container runs "
                             "unprivileged and needs them (see docs/openwrt.md)")  # fmt: skip
    idmap = container_idmap()
    spec = spec_for(settings, idmap)
    if spec.network_mode == "bridge":
        network.ensure_bridge(spec.bridge, spec.bridge_address)
        host.open_bridge_input(settings, spec.bridge)  # on OpenWrt the zone's policy is fw4's
    container = container_for(settings)
    running = container.exists() and container.running()
    ensure_spool(settings, running=running)
    ensure_layout(settings)  # mount sources (home/, ssl/acme/) of an install from before they were mounted
    rootfs = rootfs_path(settings)
    old = idmap_mod.rootfs_map(rootfs)
    if not running and binfmt.ensure_for_image(rootfs, host_arch()) == "registered":
        progress("registered qemu-user-static with binfmt_misc: the image is of another architecture")
    if not running:
        if idmap_mod.ensure_rootfs(rootfs, idmap):
            progress(f"handed the image to the container's ids ({idmap.key})")
        install_hooks(rootfs, idmap)
        _repair_mount_parent(rootfs)
    shift_data(settings, idmap, old)
    host.write_resolv_conf(settings)
    container.define(spec)
    progress(f"starting container {spec.name}")
    container.start()
    return container


def _repair_mount_parent(rootfs: str) -> None:
    """The directory that holds the bind mounts inside the image, 0755: a start from secumaild under
    umask 077, before lxc-start got its own umask, let liblxc make it 0700, and Dovecot then could
    not reach its account files."""
    parent = os.path.join(rootfs, CONTAINER_DATA.lstrip("/"))
    if os.path.isdir(parent) and os.stat(parent).st_mode & 0o777 != 0o755:
        os.chmod(parent, 0o755)  # noqa: S103 - the services' users must walk through it


def start(settings: Settings, progress: Progress = quiet) -> dict[str, Any]:
    """Start the container; its init brings the live config generation up. Idempotent."""
    from secumail.mail import deploy

    installed(settings)
    container = define_and_start(settings, progress)
    if deploy.live_generation(settings.main.data_path) is None:
        deploy.deploy(settings, container, hand_over=ContainerRuntime(settings).hand_over)
    seconds = wait_for_smtp(settings)
    return {"result": "ok", "container": container.state(), "banner_seconds": round(seconds, 2)}


def stop(settings: Settings) -> dict[str, Any]:
    container = container_for(settings)
    was_running = container.exists() and container.stop()
    if settings.container.network_mode == "bridge":
        host.close_bridge_input(settings.container.bridge)
    return {"result": "ok", "container": container.state() if container.exists() else "not installed",
            "stopped": bool(was_running)}  # fmt: skip


def restart(settings: Settings, progress: Progress = quiet) -> dict[str, Any]:
    stop(settings)
    return start(settings, progress)


def configure(settings: Settings) -> dict[str, Any]:
    """Render the mail config from the current settings, check it in the running container, swap, reload."""
    from secumail.mail import deploy

    runtime = ContainerRuntime(settings)
    return deploy.deploy(settings, runtime.running(), hand_over=runtime.hand_over)


def wait_for_smtp(settings: Settings, timeout: float = 30.0) -> float:
    """Seconds until the SMTP banner ('220 ') is read from the host."""
    host_address, port = service_address(settings), settings.ports.smtp
    try:
        return wait_for_greeting(host_address, port, timeout=timeout)
    except TimeoutError as exc:
        raise ContainerError(f"no SMTP banner from {host_address}:{port} within {timeout:.0f} s ({exc}); "
                             f"see 'mailctl logs'") from None  # fmt: skip
