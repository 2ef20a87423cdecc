"""fw4 rules for the mail server's ports and the mail container's zone, and the same input
policy as an nftables table where there is no fw4.

Every section secumail owns in UCI package `firewall` is named `secumail_*`; this module owns
all of them but the mesh's (`secumail_mesh*`, secumail.mesh.firewall), so each is found, changed
and removed without touching the user's own rules. With the container on its own bridge
(network_mode bridge) each port is a DNAT redirect from wan to the container, and the bridge
gets a zone that may forward to wan (outgoing mail); with network_mode host each port is an
ACCEPT rule. Port 443 is forwarded the same way while the container's web server runs
(secumail.mail.webserve.enabled: MTA-STS policies, client autoconfiguration; never otherwise).
With main.enabled=0 every section of ours is removed.

The mail zone's input policy is REJECT: from the container, the router answers DNS (53) and
NTP (123) only, never LuCI, SSH, the mesh port or anything else. A host without fw4 (a PC, the
tests, the demo) gets the same policy as an nftables table of its own per bridge
(`inet secumail_in_<bridge>`), made when the container starts and removed when it stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from secumail.errors import SecumailError
from secumail.mail import webmail, webserve
from secumail.system import fw4, nft
from secumail.system.fw4 import PREFIX, WAN_ZONE, Sections

if TYPE_CHECKING:
    from secumail.config.settings import Settings

ZONE = "mailsrv"  # fw4 zone names are at most 11 characters
MESH_PREFIX = f"{PREFIX}mesh"  # secumail.mesh.firewall's sections

# What the container may ask the router itself for: (name, fw4 proto, port).
ZONE_INPUT: tuple[tuple[str, str, int], ...] = (("dns", "tcp udp", 53), ("ntp", "udp", 123))


def webmail_input(settings: Settings) -> tuple[tuple[str, int], ...]:
    """(address, port) the webmail container may reach on this host: secumaild's password-change service
    (secumail.appliance.webmailpass), from the webmail container's address only; none when it is off."""
    if settings.container.network_mode != "bridge" or not settings.webmail.password_port:
        return ()
    return ((str(webmail.webmail_address(settings).ip), settings.webmail.password_port),)


def owns(name: str) -> bool:
    return name.startswith(PREFIX) and not name.startswith(MESH_PREFIX)


def applicable(confdir: str | None = None) -> bool:
    """True where fw4/fw3 configuration exists (OpenWrt): /etc/config/firewall."""
    from secumail.config import confdir as resolve

    return fw4.present(resolve(confdir))


def desired(settings: Settings) -> Sections:
    """The mail server's secumail_* sections: {name: {".type": t, option: value}}."""
    if not settings.main.enabled:
        return {}
    out: Sections = {}
    bridged = settings.container.network_mode == "bridge"
    address = str(settings.container.address.ip)
    served = dict(settings.open_ports())
    if webserve.enabled(settings):  # lighttpd: MTA-STS policies, autoconfig and autodiscover
        served["https"] = webserve.HTTPS_PORT
    if bridged and settings.webmail.enabled:  # Roundcube, in a container of its own (secumail.mail.webmail)
        out[f"{PREFIX}webmail"] = {
            ".type": "redirect",
            "name": "secumail webmail",
            "src": WAN_ZONE,
            "proto": "tcp",
            "src_dport": str(settings.webmail.port),
            "dest_ip": str(webmail.webmail_address(settings).ip),
            "dest_port": str(settings.webmail.port),
            "target": "DNAT",
            "family": "ipv4",
        }
    for service, port in sorted(served.items()):
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
            out[f"{PREFIX}{service}"] = fw4.accept_rule(service, port)
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
        for address, port in webmail_input(settings) if settings.webmail.enabled else ():
            out[f"{PREFIX}zone_webmail_password"] = {
                ".type": "rule",
                "name": "secumail webmail password change",
                "src": ZONE,
                "src_ip": address,
                "proto": "tcp",
                "dest_port": str(port),
                "target": "ACCEPT",
            }
        for service, proto, port in ZONE_INPUT:
            out[f"{PREFIX}zone_{service}"] = {
                ".type": "rule",
                "name": f"secumail container {service}",
                "src": ZONE,
                "proto": proto,
                "dest_port": str(port),
                "target": "ACCEPT",
            }
    return out


def sync(settings: Settings, confdir: str | None = None, savedir: str | None = None, reload: bool = True) -> bool:
    """Make the mail server's sections match the settings; commit and reload fw4 when something changed."""
    from secumail.config import open_uci

    changed = fw4.write(open_uci(confdir, savedir), desired(settings), owns)
    if changed and reload:
        fw4.reload_firewall()
    return changed


# -- the same input policy without fw4 (nftables) ---------------------------------------------------


def input_table(bridge: str) -> str:
    """The nftables table (family inet) holding the input policy of `bridge`."""
    return "secumail_in_" + "".join(c if c.isalnum() else "_" for c in bridge)


def input_policy_script(bridge: str, allow: tuple[tuple[str, int], ...] = ()) -> str:
    """nft script (re)creating the input policy of `bridge`: DNS and NTP to this host, answers to
    connections the host opened, the (source address, TCP port) pairs of `allow`, nothing else."""
    import ipaddress

    if not bridge or any(c in bridge for c in "\"\\ \t\n;{}"):
        raise SecumailError(f"bridge name {bridge!r} cannot be used in an nftables rule")
    dev = f'iifname "{bridge}"'
    allowed = "".join(f"    {dev} ip saddr {ipaddress.IPv4Address(address)} tcp dport {int(port)} accept\n"
                      for address, port in allow)  # fmt: skip
    table = f"inet {input_table(bridge)}"
    udp = ", ".join(str(port) for _name, proto, port in ZONE_INPUT if "udp" in proto.split())
    tcp = ", ".join(str(port) for _name, proto, port in ZONE_INPUT if "tcp" in proto.split())
    return (
        f"add table {table}\ndelete table {table}\n"
        f"table {table} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 5; policy accept;\n"
        f"    {dev} ct state established,related accept\n"
        f"    {dev} udp dport {{ {udp} }} accept\n"
        f"    {dev} tcp dport {{ {tcp} }} accept\n"
        f"{allowed}"
        f"    {dev} meta l4proto tcp reject with tcp reset\n"
        f"    {dev} reject\n"
        "  }\n"
        "}\n"
    )


def _nft(script: str) -> None:
    nft.apply_script(script, rules="the mail zone rules",
                     why="the mail container's input policy is an nftables table")  # fmt: skip


def ensure_input_policy(bridge: str, allow: tuple[tuple[str, int], ...] = ()) -> None:
    """Create (or renew) the input policy table of `bridge`."""
    _nft(input_policy_script(bridge, allow))


def remove_input_policy(bridge: str) -> None:
    """Remove the input policy table of `bridge` (nothing when absent)."""
    _nft(nft.remove_table_script("inet", input_table(bridge)))
