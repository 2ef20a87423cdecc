"""The agent's own bridge for the mail container (host side only).

We never rely on lxcbr0 (absent on OpenWrt and on many hosts) and never add
NAT, forwarding or a default route: on OpenWrt, fw4 redirect rules expose the
container's ports; elsewhere the bridge is host-only.
"""

from __future__ import annotations

import ipaddress
import os

from secumail.errors import ContainerError, SecumailError
from secumail.system.proc import run


def bridge_exists(name: str) -> bool:
    """True when a link called `name` exists and is a bridge."""
    return os.path.isdir(f"/sys/class/net/{name}/bridge")


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def bridge_addresses(name: str) -> list[str]:
    """IPv4 addresses (with /prefix) configured on `name`."""
    res = run(["ip", "-o", "-4", "addr", "show", "dev", name], check=False)
    out = []
    for line in res.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            out.append(words[words.index("inet") + 1])
    return out


def ensure_bridge(name: str, address: str) -> bool:
    """Make bridge `name` exist, carry `address` (e.g. "10.231.0.1/24") and be up.

    Idempotent; returns True when the bridge was created by this call.
    Refuses to touch a link of that name that is not a bridge.
    """
    try:
        iface = ipaddress.ip_interface(address)
    except ValueError as exc:
        raise ContainerError(f"bridge {name}: bad address {address!r}: {exc}") from None
    created = False
    try:
        if not bridge_exists(name):
            if _link_exists(name):
                raise ContainerError(f"{name} exists but is not a bridge: pick another bridge name")
            run(["ip", "link", "add", "name", name, "type", "bridge"])
            created = True
        wanted = f"{iface.ip}/{iface.network.prefixlen}"
        if wanted not in bridge_addresses(name):
            run(["ip", "addr", "add", wanted, "dev", name])
        run(["ip", "link", "set", "dev", name, "up"])
    except ContainerError:
        raise
    except SecumailError as exc:
        raise ContainerError(f"could not set up bridge {name}: {exc}") from None
    return created


def remove_bridge(name: str) -> bool:
    """Delete bridge `name` if present; returns True when something was removed."""
    if not _link_exists(name):
        return False
    if not bridge_exists(name):
        raise ContainerError(f"{name} is not a bridge: refusing to delete it")
    try:
        run(["ip", "link", "del", "dev", name])
    except SecumailError as exc:
        raise ContainerError(f"could not delete bridge {name}: {exc}") from None
    return True
