"""fw4 rules for the enabled mail ports, kept in UCI package `firewall`.

Every section secumail owns is named `secumail_*`, so they are found, changed
and removed without touching the user's own rules. With the container on its
own bridge (network_mode bridge) each port is a DNAT redirect from wan to the
container, and the bridge gets a zone that may forward to wan (outgoing mail);
with network_mode host each port is an ACCEPT rule. The mesh SFTP port (held by
the agent itself) is an ACCEPT rule while mesh is enabled. With main.enabled=0
every secumail_* section is removed.

The mail zone's input policy is REJECT: from the container, the router answers
DNS (53) and NTP (123) only, never LuCI, SSH, the mesh port or anything else.
A host without fw4 (a PC, the tests, the demo) gets the same policy as an
nftables table of its own per bridge (`inet secumail_in_<bridge>`), made when
the container starts and removed when it stops.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

from secumail.errors import SecumailError

logger = logging.getLogger(__name__)

PACKAGE = "firewall"
PREFIX = "secumail_"
ZONE = "mailsrv"  # fw4 zone names are at most 11 characters
WAN_ZONE = "wan"
LAN_ZONE = "lan"

Sections = dict[str, dict[str, Any]]

# What the container may ask the router itself for: (name, fw4 proto, port).
ZONE_INPUT: tuple[tuple[str, str, int], ...] = (("dns", "tcp udp", 53), ("ntp", "udp", 123))


def applicable(confdir: str | None = None) -> bool:
    """True where fw4/fw3 configuration exists (OpenWrt): /etc/config/firewall."""
    from secumail.config import confdir as resolve

    return os.path.isfile(os.path.join(resolve(confdir), PACKAGE))


def desired(settings: Any) -> Sections:
    """The secumail_* sections the settings call for: {name: {".type": t, option: value}}."""
    if not settings.main.enabled:
        return {}
    out: Sections = {}
    ports = settings.ports.enabled()
    bridged = settings.container.network_mode == "bridge"
    address = str(settings.container.address.ip)
    for service, port in sorted(ports.items()):
        if bridged:
            out[f"{PREFIX}{service}"] = {
                ".type": "redirect",
                "name": f"secumail {service}",
                "src": WAN_ZONE,
                "proto": "tcp",
                "src_dport": str(port),
                "dest_ip": address,
                "dest_port": str(port),
                "target": "DNAT",
                "family": "ipv4",
            }
        else:
            out[f"{PREFIX}{service}"] = _accept(service, port)
    if bridged:
        out[f"{PREFIX}zone"] = {
            ".type": "zone",
            "name": ZONE,
            "device": (settings.container.bridge,),
            "input": "REJECT",
            "output": "ACCEPT",
            "forward": "REJECT",
        }
        out[f"{PREFIX}forward"] = {".type": "forwarding", "src": ZONE, "dest": WAN_ZONE}
        for service, proto, port in ZONE_INPUT:
            out[f"{PREFIX}zone_{service}"] = {
                ".type": "rule",
                "name": f"secumail container {service}",
                "src": ZONE,
                "proto": proto,
                "dest_port": str(port),
                "target": "ACCEPT",
            }
    if settings.mesh.enabled:
        # the mesh port: from the lan zone, and from wan only to pinned peers' IP addresses (a peer
        # pinned by host name, or found by discovery, is reached over the LAN or needs a rule of the
        # user's own)
        out[f"{PREFIX}mesh"] = dict(_accept("mesh", settings.mesh.port), src=LAN_ZONE)
        peers = peer_addresses(settings)
        if peers:
            out[f"{PREFIX}mesh_peers"] = dict(
                _accept("mesh peers", settings.mesh.port), src_ip=peers, family="any"
            )
    return out


def peer_addresses(settings: Any) -> tuple[str, ...]:
    """The IP addresses pinned peers were given (host names are not resolved into firewall rules)."""
    found = set()
    for peer in settings.pinned_peers:
        try:
            found.add(str(ipaddress.ip_address(peer.address.strip("[]"))))
        except ValueError:
            continue
    return tuple(sorted(found))


def _accept(service: str, port: int) -> dict[str, Any]:
    return {
        ".type": "rule",
        "name": f"secumail {service}",
        "src": WAN_ZONE,
        "proto": "tcp",
        "dest_port": str(port),
        "target": "ACCEPT",
    }


def current(uci: Any) -> Sections:
    try:
        package = uci.get_all(PACKAGE)
    except Exception as exc:  # noqa: BLE001 - UciException of either backend
        raise SecumailError(f"cannot read UCI package {PACKAGE}: {exc}") from None
    out: Sections = {}
    for name, section in dict(package).items():
        if name.startswith(PREFIX) and not section.get(".anonymous"):
            out[name] = {".type": section[".type"]}
            out[name].update({k: v for k, v in section.items() if not k.startswith(".")})
    return out


def plan(have: Sections, want: Sections) -> tuple[list[str], list[str]]:
    """(names to delete, names to write): a section whose type or options differ is rewritten."""
    delete = sorted(name for name in have if have[name] != want.get(name))
    write = sorted(name for name in want if have.get(name) != want[name])
    return delete, write


def sync(settings: Any, confdir: str | None = None, savedir: str | None = None, reload: bool = True) -> bool:
    """Make the secumail_* sections match the settings; commit and reload fw4 when something changed."""
    from secumail.config import open_uci

    uci = open_uci(confdir, savedir)
    want = desired(settings)
    delete, write = plan(current(uci), want)
    if not delete and not write:
        return False
    try:
        for name in delete:
            uci.delete(PACKAGE, name)
        for name in write:
            section = want[name]
            uci.set(PACKAGE, name, section[".type"])
            for option, value in section.items():
                if not option.startswith("."):
                    uci.set(PACKAGE, name, option, value)
        uci.commit(PACKAGE)
    except Exception as exc:  # noqa: BLE001 - UciException of either backend
        raise SecumailError(f"cannot update UCI package {PACKAGE}: {exc}") from None
    logger.info("firewall: removed %s, wrote %s", delete or "nothing", write or "nothing")
    if reload:
        reload_firewall()
    return True


def reload_firewall() -> None:
    from secumail.system.proc import run

    script = "/etc/init.d/firewall"
    if os.access(script, os.X_OK):
        result = run([script, "reload"], check=False, timeout=60)
        if not result.ok:
            raise SecumailError(f"{script} reload failed: {(result.stderr or result.stdout).strip()[-200:]}")


# -- the same input policy without fw4 (nftables) ---------------------------------------------------


def input_table(bridge: str) -> str:
    """The nftables table (family inet) holding the input policy of `bridge`."""
    return "secumail_in_" + "".join(c if c.isalnum() else "_" for c in bridge)


def input_policy_script(bridge: str) -> str:
    """nft script (re)creating the input policy of `bridge`: DNS and NTP to this host, answers to
    connections the host opened, nothing else."""
    if not bridge or any(c in bridge for c in "\"\\ \t\n;{}"):
        raise SecumailError(f"bridge name {bridge!r} cannot be used in an nftables rule")
    table = f"inet {input_table(bridge)}"
    udp = ", ".join(str(port) for _name, proto, port in ZONE_INPUT if "udp" in proto.split())
    tcp = ", ".join(str(port) for _name, proto, port in ZONE_INPUT if "tcp" in proto.split())
    dev = f'iifname "{bridge}"'
    return (
        f"add table {table}\ndelete table {table}\n"
        f"table {table} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 5; policy accept;\n"
        f"    {dev} ct state established,related accept\n"
        f"    {dev} udp dport {{ {udp} }} accept\n"
        f"    {dev} tcp dport {{ {tcp} }} accept\n"
        f"    {dev} meta l4proto tcp reject with tcp reset\n"
        f"    {dev} reject\n"
        "  }\n"
        "}\n"
    )


def _nft(script: str) -> None:
    from secumail.system.proc import run, which

    nft = which("nft")
    if nft is None:
        raise SecumailError("nft not found: install nftables (the mail container's input policy is an "
                            "nftables table)")
    result = run([nft, "-f", "-"], input=script, check=False, timeout=30)
    if not result.ok:
        raise SecumailError(f"nft refused the mail zone rules: {(result.stderr or result.stdout).strip()[-300:]}")


def ensure_input_policy(bridge: str) -> None:
    """Create (or renew) the input policy table of `bridge`."""
    _nft(input_policy_script(bridge))


def remove_input_policy(bridge: str) -> None:
    """Remove the input policy table of `bridge` (nothing when absent)."""
    table = f"inet {input_table(bridge)}"
    _nft(f"add table {table}\ndelete table {table}\n")
