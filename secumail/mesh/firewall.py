"""fw4 rules for the mesh port (the agent's own SFTP service for peers).

While mesh is enabled (and the mail server is): the port is open from the lan zone, and from
wan only to the IP addresses pinned peers were given. A peer pinned by host name, or found by
discovery, is reached over the LAN or needs a rule of the user's own (host names are not
resolved into firewall rules). The sections are `secumail_mesh*` in UCI package `firewall`.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from secumail.system import fw4
from secumail.system.fw4 import LAN_ZONE, PREFIX, Sections

if TYPE_CHECKING:
    from secumail.config.settings import Settings

MESH_PREFIX = f"{PREFIX}mesh"


def owns(name: str) -> bool:
    return name.startswith(MESH_PREFIX)


def desired(settings: Settings) -> Sections:
    if not (settings.main.enabled and settings.mesh.enabled):
        return {}
    out: Sections = {f"{MESH_PREFIX}": dict(fw4.accept_rule("mesh", settings.mesh.port), src=LAN_ZONE)}
    peers = peer_addresses(settings)
    if peers:
        out[f"{MESH_PREFIX}_peers"] = dict(fw4.accept_rule("mesh peers", settings.mesh.port), src_ip=peers,
                                           family="any")  # fmt: skip
    return out


def peer_addresses(settings: Settings) -> tuple[str, ...]:
    """The IP addresses pinned peers were given (host names are not resolved into firewall rules)."""
    found = set()
    for peer in settings.pinned_peers:
        try:
            found.add(str(ipaddress.ip_address(peer.address)))
        except ValueError:
            continue
    return tuple(sorted(found))


def sync(settings: Settings, confdir: str | None = None, savedir: str | None = None, reload: bool = True) -> bool:
    """Make the mesh port's sections match the settings; commit and reload fw4 when something changed."""
    from secumail.config import open_uci

    changed = fw4.write(open_uci(confdir, savedir), desired(settings), owns)
    if changed and reload:
        fw4.reload_firewall()
    return changed
