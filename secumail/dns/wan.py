"""Where the public addresses come from. IPv4: a fixed dns.public_ipv4, the WAN interface, or an
HTTPS "what is my address" service (dns.public_ipv4 'auto', for a router behind another NAT).
IPv6: a fixed dns.public_ipv6, or the WAN's global address (dns.public_ipv6 'wan': a home line's
delegated prefix changes like its IPv4 address; there is no NAT to see through).

secumaild calls `local_ipv4()` at every check, so it stays cheap and light: the standard library
only (no ssl, no dnspython), one ubus call on OpenWrt, a file read and an ioctl elsewhere. Asking
the web service imports ssl and may wait, so secumaild does that in a worker (the wan-update job).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from typing import TYPE_CHECKING

from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)

MAX_ANSWER = 64  # bytes: an IPv4 address and some white space; anything longer is not one
SIOCGIFADDR = 0x8915
# Addresses that mean "behind another NAT": publishing them would send mail nowhere.
_NAT = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


def publishable_ipv4(text: str) -> str:
    """`text` as an IPv4 address that may stand in an A record; ValueError says why not (one line).

    Refused: what is not one IPv4 address, RFC 1918 and CGNAT (100.64/10) space, loopback,
    link-local, multicast, 0/8 and 240/4. The documentation ranges (192.0.2/24, ...) pass:
    no real line has them, and tests and the simulated internet use them.
    """
    try:
        address = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError(f"{_shown(text)} is not an IPv4 address") from None
    if any(address in net for net in _NAT):
        raise ValueError(f"{address} is a private address")
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified or (
        address.is_reserved or address in ipaddress.IPv4Network("0.0.0.0/8")
    ):
        raise ValueError(f"{address} is not a public address")
    return str(address)


def publishable_ipv6(text: str) -> str:
    """`text` as an IPv6 address that may stand in an AAAA record; ValueError says why not.

    Refused: unique local (fc00::/7), link-local, loopback, multicast, unspecified, IPv4-mapped
    and site-local addresses. The documentation prefix 2001:db8::/32 passes, as 192.0.2/24 does.
    """
    try:
        address = ipaddress.IPv6Address(text.strip())
    except ValueError:
        raise ValueError(f"{_shown(text)} is not an IPv6 address") from None
    if address in ipaddress.IPv6Network("fc00::/7"):
        raise ValueError(f"{address} is a unique local address (not reachable from the internet)")
    if (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or (address.ipv4_mapped is not None or address.is_site_local)
    ):
        raise ValueError(f"{address} is not a public address")
    return str(address)


def _shown(text: str) -> str:
    """A hostile answer shown in one short line."""
    text = " ".join(text.split())
    return repr(text if len(text) <= 40 else text[:40] + "...")


# --- the WAN interface -----------------------------------------------------------------------------


def local_ipv4(interface: str, *, root: str = "/") -> str:
    """The public IPv4 address of the WAN: OpenWrt's `interface` through ubus, else the kernel
    interface of that name, else the one holding the default route. SecumailError when there is
    none or it is not public (the message says which and why)."""
    from secumail.system.proc import which

    if which("ubus") is not None:
        return _from_ubus(interface)
    device = interface if os.path.isdir(os.path.join(root, "sys/class/net", interface)) else default_route_device(root)
    if device is None:
        raise SecumailError(f"no interface {interface} and no default route: cannot read the WAN address")
    address = interface_ipv4(device)
    if address is None:
        raise SecumailError(f"{device} has no IPv4 address")
    try:
        return publishable_ipv4(address)
    except ValueError as exc:
        raise SecumailError(f"WAN address on {device}: {_hint(exc)}") from None


def _hint(exc: ValueError) -> str:
    """A private WAN address means another NAT in front of the router: say what to do."""
    text = str(exc)
    if text.endswith("is a private address"):
        text += " (the router is behind another NAT: set mailserver.dns.public_ipv4 auto)"
    return text


def _ubus_addresses(interface: str, key: str) -> list | None:
    """The `key` entries ("ipv4-address", "ipv6-address") of OpenWrt's logical `interface`; None when
    ubus knows no such interface, [] when it answered nothing usable."""
    from secumail.system.proc import run

    result = run(["ubus", "call", f"network.interface.{interface}", "status"], check=False, timeout=10)
    if not result.ok:
        return None
    try:
        return json.loads(result.stdout).get(key) or []
    except (ValueError, AttributeError):
        return []


def _from_ubus(interface: str) -> str:
    entries = _ubus_addresses(interface, "ipv4-address")
    if entries is None:
        raise SecumailError(f"ubus knows no interface {interface!r} (network.interface.{interface})")
    problems = []
    for entry in entries:
        try:
            return publishable_ipv4(str(entry.get("address", "")))
        except ValueError as exc:
            problems.append(_hint(exc))
        except AttributeError:
            problems.append("ubus answered an entry that is not an address")
    raise SecumailError(f"WAN address of {interface}: {problems[0] if problems else 'none (the interface is down)'}")


def default_route_device(root: str = "/") -> str | None:
    """The interface of the IPv4 default route with the lowest metric (/proc/net/route)."""
    try:
        with open(os.path.join(root, "proc/net/route"), encoding="ascii") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000":
            continue  # not destination 0.0.0.0/0
        try:
            metric = int(fields[6])
        except ValueError:
            continue
        if best is None or metric < best[0]:
            best = (metric, fields[0])
    return best[1] if best else None


def interface_ipv4(device: str) -> str | None:
    """The primary IPv4 address of a kernel interface (SIOCGIFADDR), None when it has none."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            raw = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", device.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


# --- IPv6: the WAN's global address (dns.public_ipv6 wan) --------------------------------------

# /proc/net/if_inet6 flags of addresses not to publish: temporary (privacy), DAD failed,
# deprecated (the old prefix after a renumbering), tentative (DAD not finished).
_SKIP_FLAGS = 0x01 | 0x08 | 0x20 | 0x40


def local_ipv6(interface: str, *, root: str = "/") -> str:
    """The global IPv6 address of the WAN: OpenWrt's `<interface>6` (wan6) or `interface` through
    ubus, else the kernel interface `interface`, else the one holding the IPv6 default route.
    SecumailError (one line) when there is none."""
    from secumail.system.proc import which

    if which("ubus") is not None:
        return _ipv6_from_ubus(interface)
    device = interface if os.path.isdir(os.path.join(root, "sys/class/net", interface)) else default_route6_device(root)
    if device is None:
        raise SecumailError(f"no interface {interface} and no IPv6 default route: cannot read the WAN IPv6 address")
    found = interface_ipv6(device, root=root)
    if found is None:
        raise SecumailError(f"{device} has no global IPv6 address")
    return found


def _ipv6_from_ubus(interface: str) -> str:
    for name in (f"{interface}6", interface):
        for entry in _ubus_addresses(name, "ipv6-address") or []:
            try:
                return publishable_ipv6(str(entry.get("address", "")))
            except (ValueError, AttributeError):
                continue
    raise SecumailError(f"no global IPv6 address on {interface}6 or {interface} (ubus network.interface)")


def default_route6_device(root: str = "/") -> str | None:
    """The interface of the IPv6 default route with the lowest metric (/proc/net/ipv6_route)."""
    try:
        with open(os.path.join(root, "proc/net/ipv6_route"), encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[0] != "0" * 32 or fields[1] != "00" or fields[9] == "lo":
            continue  # not ::/0 (the kernel's unreachable ::/0 sits on lo)
        try:
            metric = int(fields[5], 16)
        except ValueError:
            continue
        if best is None or metric < best[0]:
            best = (metric, fields[9])
    return best[1] if best else None


def interface_ipv6(device: str, *, root: str = "/") -> str | None:
    """The first stable global IPv6 address of `device` (/proc/net/if_inet6), None when it has none."""
    try:
        with open(os.path.join(root, "proc/net/if_inet6"), encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) != 6 or fields[5] != device or fields[3] != "00":  # scope 00: global
            continue
        try:
            if int(fields[4], 16) & _SKIP_FLAGS:
                continue
            text = ":".join(fields[0][i : i + 4] for i in range(0, 32, 4))
            return publishable_ipv6(text)
        except ValueError:
            continue
    return None


def public_ipv6(settings: Settings) -> str:
    """The address the AAAA record should hold now: '' for none (dns.public_ipv6 empty)."""
    if settings.dns.public_ipv6 == "wan":
        return local_ipv6(settings.dns.wan_interface)
    return settings.dns.public_ipv6


# --- the web service (dns.public_ipv4 auto) -------------------------------------------------------


def fetch_public_ipv4(url: str, timeout: float) -> str:
    """Ask `url` for our address: one GET, no redirect, at most MAX_ANSWER bytes, which must be
    one public IPv4 address. SecumailError (one line, naming the URL) otherwise."""
    import urllib.error
    import urllib.request

    from secumail.config.validate import loopback_http_ok
    from secumail.system.nofollow import OPENER

    if not loopback_http_ok(url):
        raise SecumailError(f"dns.public_ip_url {url!r} is not an https:// URL")

    request = urllib.request.Request(url, headers={"User-Agent": "secumail", "Accept": "text/plain"})  # noqa: S310
    try:
        with OPENER.open(request, timeout=timeout) as response:
            raw = response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        raise SecumailError(f"{url} answered HTTP {exc.code}; no address learnt") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SecumailError(f"cannot ask {url} for the public address: {reason}") from None
    if len(raw) > MAX_ANSWER:
        raise SecumailError(f"{url} answered more than {MAX_ANSWER} bytes: not an address; refused")
    try:
        return publishable_ipv4(raw.decode("ascii"))
    except UnicodeDecodeError:
        raise SecumailError(f"{url} answered bytes that are not text: not an address; refused") from None
    except ValueError as exc:
        raise SecumailError(f"{url} answered: {exc}; refused") from None


def public_ipv4(settings: Settings) -> str:
    """The address the A record should hold now (SecumailError when it cannot be learnt)."""
    dns = settings.dns
    if dns.public_ipv4 == "auto":
        return fetch_public_ipv4(dns.public_ip_url, float(dns.timeout))
    if dns.public_ipv4:
        return dns.public_ipv4
    return local_ipv4(dns.wan_interface)


def published_address(data_path: str, fqdn: str, rtype: str = "A") -> str | None:
    """The A (or `rtype`) record value of `fqdn` that our last DNS apply published
    (data_path/dns/state.json, written by secumail.dns.plan), None when we published none. Read
    with json only: the daemon calls this at every check."""
    from secumail.config.layout import DataLayout

    try:
        with open(DataLayout(data_path).dns_state, encoding="utf-8") as handle:
            data = json.load(handle)
        values = data.get("published", {}).get(f"{fqdn} {rtype}") or []
    except (OSError, ValueError, AttributeError):
        return None
    return str(values[0]) if values else None
