"""What the host gives the container: its resolver and its firewall rules."""

from __future__ import annotations

import os

from secumail.appliance.spec import rootfs_path
from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod


def nameservers(settings: Settings) -> list[str]:
    """Resolvers the container uses: container.nameservers, else the router's dnsmasq on OpenWrt."""
    if settings.container.nameservers:
        return list(settings.container.nameservers)
    if settings.container.network_mode == "host":
        return []  # the host's own /etc/resolv.conf is not ours to rewrite
    if os.path.exists("/etc/openwrt_release"):
        return [str(settings.container.host_address.ip)]
    return []


def write_resolv_conf(settings: Settings) -> None:
    """The image must not keep the build host's resolver: write the configured one (or none)."""
    from secumail.system.files import atomic_write

    if settings.container.network_mode == "host":
        return
    servers = nameservers(settings)
    lines = ["# written by secumail from mailserver.container.nameservers"]
    lines += [f"nameserver {server}" for server in servers] or ["# no resolver configured: DNS lookups fail fast"]
    path = os.path.join(rootfs_path(settings), "etc", "resolv.conf")
    if os.path.islink(path):
        os.unlink(path)
    atomic_write(path, "\n".join(lines) + "\n", 0o644)
    idmap_mod.chown_root(path, idmap_mod.rootfs_map(rootfs_path(settings)))


def fw4() -> bool:
    """OpenWrt's firewall (fw4) is configured through UCI here."""
    return os.path.exists("/etc/config/firewall")


def sync_firewall(settings: Settings) -> None:
    """On OpenWrt, open/redirect the enabled ports through fw4 (UCI firewall)."""
    if not fw4():
        return
    from secumail.mail import firewall

    firewall.sync(settings)


def open_bridge_input(settings: Settings, bridge: str) -> None:
    """Without fw4, the container's bridge gets our own input policy (with fw4 it is the zone's)."""
    if not fw4():
        from secumail.mail import firewall

        firewall.ensure_input_policy(bridge, firewall.webmail_input(settings))


def close_bridge_input(bridge: str) -> None:
    if not fw4():
        from secumail.mail import firewall

        firewall.remove_input_policy(bridge)
