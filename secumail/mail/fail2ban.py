"""fail2ban for the mail services: follow their logs, count auth failures, ban in nftables.

Three parts, the first two pure: `parse_line` finds an authentication failure
(Postfix SASL, Dovecot login, a DAV login our Radicale plugin refused) and its source address in one log line (only
the fields the service itself wrote: client-chosen text such as a user name
holding "rip=..." never names the address); `FailureCounter` says when a
source (an IPv4 address, an IPv6 /64) has failed `maxretry` times within
`findtime` seconds; `NftBanner` adds it to an nftables set whose elements
time out after `bantime` (the kernel lets the address in again, no timer of
ours). `Guard` ties them to the log files (read from where they were at the
last poll; rotation and truncation are noticed by inode and size).

The nftables table `inet secumail` lives beside fw4's own table on OpenWrt and
works the same on any host with nftables: its chains hook input and forward
and reject banned sources on the mail ports only. Routed traffic to the
container (WAN -> fw4 redirect -> br-mail on OpenWrt) passes the inet forward
hook. Traffic *bridged* to it (a client on the container's own bridge) passes
the inet forward hook only when br_netfilter hands bridged IPv4/IPv6 to the IP
hooks (net.bridge.bridge-nf-call-iptables=1); for the other case a second
table `bridge secumail` drops banned sources in the bridge forward hook at
priority 10, after br_netfilter (priority 0): with br_netfilter the inet
reject answers first (the client sees a refused connection), without it the
bridge rule drops (a timeout; this kernel has no reject in the bridge family).
The bridge table is best effort (OpenWrt needs kmod-nft-bridge for it).
See docs/openwrt.md "fail2ban".
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import ipaddress
import logging
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from secumail.errors import ConfigError, SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)

TABLE = "secumail"
BRIDGE_PRIORITY = 10  # after br_netfilter (0): its inet reject, when active, answers first
MAX_TRACKED = 4096
SET6 = "banned6net"
READ_LIMIT = 1024 * 1024

_ADDR = r"([0-9A-Fa-f:.]+)"
# Where a log line's program tag starts: everything before it (syslog timestamp and host, or Dovecot's own
# timestamp) holds no ": ", so a tag quoted later in the line (a client's RCPT address, HELO name or user
# name, all logged verbatim) is never taken for the real one.
_PREFIX = r"^(?:[^:]|:(?! ))*?(?:^|\s)"
# postfix/submission/smtpd[812]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: ...
_POSTFIX = re.compile(_PREFIX + r"postfix(?:/[\w-]+)*/smtpd\[\d+\]: warning: [^\s\[\]]*\[" + _ADDR
                      + r"\](?::\d+)?: SASL [\w-]+ authentication failed")  # fmt: skip
# dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 9 secs): user=<a>,
#   method=PLAIN, rip=192.0.2.7, lip=10.231.0.2, TLS, session=<abc>
# The reason in parentheses is the first one after the tag (Dovecot's own text comes before the user
# name). The user name is the client's and may hold "rip=...": the real rip is the last one, and only
# Dovecot's own fields may follow it up to the end of the line (lip, mpid, flags like TLS, session).
_DOVECOT = re.compile(_PREFIX + r"(?:dovecot(?:\[\d+\])?: )?(?:imap|pop3|submission|managesieve)-login: "
                      r"[^()]*\(auth failed, (\d+) attempts? in \d+ secs?\): user=<")  # fmt: skip
_DOVECOT_TAIL = re.compile(r", rip=" + _ADDR + r", lip=[0-9A-Fa-f:.]+(?:, mpid=\d+)?(?:, [^,=<>]+)*"
                           r"(?:, session=<[^<>]*>)?\s*$")  # fmt: skip
# [2026-12-06 14:00:00 +0000] [812/Thread-3 (process_request_thread)] [WARNING] secumail-dav: auth failed:
#   rip=192.0.2.7  -- our Radicale plugin (templates/dav/secumail_dovecot_auth.py), in Radicale's format; the
# whole line is matched: Radicale logs client text only repr-quoted, never at a line's start or end like this.
_DAV = re.compile(r"^\[[^\[\]]*\] \[[^\[\]]*\] \[WARNING\] secumail-dav: auth failed: rip=" + _ADDR + r"\s*$")
IPV6_PREFIX = 64  # one IPv6 subscriber gets a /64: an attacker rotating addresses inside it is one source


@dataclasses.dataclass(frozen=True)
class Failure:
    service: str
    address: str
    count: int = 1


def parse_line(line: str) -> Failure | None:
    """The authentication failure this log line reports, if any."""
    if "auth" not in line:
        return None
    match = _POSTFIX.match(line)
    if match is not None:
        return _failure("postfix", match.group(1), 1)
    match = _DAV.match(line)
    if match is not None:
        return _failure("dav", match.group(1), 1)
    match = _DOVECOT.match(line)
    if match is None:
        return None
    tail = _DOVECOT_TAIL.match(line, max(match.end(), line.rfind(", rip=")))
    if tail is None:
        return None
    return _failure("dovecot", tail.group(1), int(match.group(1)))


def _failure(service: str, address: str, count: int) -> Failure | None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return Failure(service, str(parsed), max(1, count))


def ban_key(address: str, ignore: Iterable[Any] = ()) -> str:
    """What is counted and banned for an address: itself (IPv4), its /64 (IPv6) — or the address
    alone when the /64 holds an ignored network (banning it would lock that one out too)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        net = ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False)
        if not any(n.version == 6 and n.overlaps(net) for n in ignore):
            return str(net)
    return str(ip)


class FailureCounter:
    """Failures per address within a sliding window; bounded memory."""

    def __init__(self, maxretry: int, findtime: float, ignore: Iterable[Any] = ()) -> None:
        self.maxretry = maxretry
        self.findtime = findtime
        self.ignore = [ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n for n in ignore]
        self._seen: collections.OrderedDict[str, collections.deque[tuple[float, int]]] = collections.OrderedDict()

    def ignored(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip.version == net.version and ip in net for net in self.ignore)

    def key(self, address: str) -> str:
        return ban_key(address, self.ignore)

    def add(self, failure: Failure, now: float) -> bool:
        """Record a failure; True when its source (see ban_key) has now reached maxretry (its count is reset)."""
        if self.ignored(failure.address):
            return False
        key = self.key(failure.address)
        events = self._seen.pop(key, None) or collections.deque()
        events.append((now, failure.count))
        while events and events[0][0] <= now - self.findtime:
            events.popleft()
        if sum(count for _t, count in events) >= self.maxretry:
            return True
        self._seen[key] = events
        while len(self._seen) > MAX_TRACKED:
            self._seen.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._seen)


@dataclasses.dataclass(frozen=True)
class Options:
    maxretry: int
    findtime: int
    bantime: int
    ignore: tuple[str, ...]
    ports: tuple[int, ...]
    logfiles: tuple[str, ...]


DEFAULT_IGNORE = ("127.0.0.0/8", "::1/128")


def options_from_settings(settings: Settings) -> Options:
    f = settings.features
    for item in f.fail2ban_ignoreip:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError("mailserver.features.fail2ban_ignoreip", item, "is not an address or network") from None
    return Options(
        maxretry=f.fail2ban_maxretry,
        findtime=f.fail2ban_findtime,
        bantime=f.fail2ban_bantime,
        ignore=DEFAULT_IGNORE + tuple(f.fail2ban_ignoreip),
        ports=tuple(sorted(set(settings.open_ports().values()))),
        logfiles=tuple(f.fail2ban_logfile) or container_logs(settings),
    )


def container_logs(settings: Settings) -> tuple[str, ...]:
    """Postfix's, Dovecot's and Radicale's log files inside the container's rootfs (as the mail layer
    configures them)."""
    rootfs = _rootfs(settings)
    return tuple(os.path.join(rootfs, "var/log", name) for name in ("mail.log", "dovecot.log", "radicale.log"))


def _rootfs(settings: Settings) -> str:
    directory = os.path.join(settings.container.lxc_path, settings.main.container)
    try:
        with open(os.path.join(directory, "config"), encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition("=")
                if key.strip() == "lxc.rootfs.path":
                    value = value.strip()
                    return value.split(":", 1)[1] if ":" in value.split("/", 1)[0] else value
    except OSError:
        pass
    return os.path.join(directory, "rootfs")


class NftBanner:
    """The nftables side: a timeout set per family, reject rules on the mail ports (inet), and the
    same sets with drop rules for bridged traffic (bridge family, when the kernel has it)."""

    def __init__(self, table: str | None = None, nft: str | None = None) -> None:
        # SECUMAIL_NFT_TABLE: tests on a shared host use their own table name.
        self.table = table or os.environ.get("SECUMAIL_NFT_TABLE") or TABLE
        self.nft = nft
        self.bridge = False  # the bridge table exists

    def _run(self, script: str) -> None:
        from secumail.system.nft import apply_script

        self.nft = apply_script(script, rules="the fail2ban rules", why="fail2ban bans through an nftables set",
                                nft=self.nft)  # fmt: skip

    def _sets(self, t: str) -> list[str]:
        # IPv6 bans are /64 prefixes: an interval set (a set's flags cannot change, hence a new name)
        return [
            f"add table {t}",
            f"add set {t} banned4 {{ type ipv4_addr; flags timeout; }}",
            f"add set {t} {SET6} {{ type ipv6_addr; flags interval, timeout; }}",
        ]

    def ruleset(self, ports: tuple[int, ...]) -> str:
        t = f"inet {self.table}"
        lines = self._sets(t)
        ports_expr = "{ " + ", ".join(str(p) for p in ports) + " }" if ports else None
        for chain, hook in (("input", "input"), ("forward", "forward")):
            lines.append(f"add chain {t} {chain} {{ type filter hook {hook} priority filter - 5; policy accept; }}")
            lines.append(f"flush chain {t} {chain}")
            if ports_expr:
                for family, setname in (("ip", "banned4"), ("ip6", SET6)):
                    lines.append(
                        f"add rule {t} {chain} {family} saddr @{setname} tcp dport {ports_expr} reject with tcp reset"
                    )
        return "\n".join(lines) + "\n"

    def bridge_ruleset(self, ports: tuple[int, ...]) -> str:
        t = f"bridge {self.table}"
        lines = self._sets(t)
        lines.append(f"add chain {t} forward {{ type filter hook forward priority {BRIDGE_PRIORITY}; policy accept; }}")
        lines.append(f"flush chain {t} forward")
        if ports:
            ports_expr = "{ " + ", ".join(str(p) for p in ports) + " }"
            for family, setname in (("ip", "banned4"), ("ip6", SET6)):
                lines.append(f"add rule {t} forward {family} saddr @{setname} tcp dport {ports_expr} drop")
        return "\n".join(lines) + "\n"

    def setup(self, ports: tuple[int, ...]) -> None:
        """Create or update the tables; bans already in the sets are kept."""
        self._run(self.ruleset(ports))
        try:
            self._run(self.bridge_ruleset(ports))
            self.bridge = True
        except SecumailError as exc:
            self.bridge = False
            logger.warning("fail2ban: no bridge-family table (%s); clients bridged to the container are banned "
                           "only when br_netfilter is active", exc)  # fmt: skip
        for family in ("inet", "bridge") if self.bridge else ("inet",):
            with contextlib.suppress(SecumailError):  # the per-address IPv6 set of older versions, unused now
                self._run(f"delete set {family} {self.table} banned6\n")

    def ban(self, source: str, seconds: int) -> None:
        """Ban an IPv4 address or an IPv6 network (what ban_key gives) for `seconds`."""
        net = ipaddress.ip_network(source, strict=False)
        setname = "banned4" if net.version == 4 else SET6
        element = str(net.network_address) if net.num_addresses == 1 else str(net)
        families = ("inet", "bridge") if self.bridge else ("inet",)
        self._run("".join(f"add element {f} {self.table} {setname} {{ {element} timeout {int(seconds)}s }}\n"
                          for f in families))  # fmt: skip

    def banned(self) -> int | None:
        """How many sources are banned now (elements of both sets), None without the table or nft."""
        import json

        from secumail.system.proc import run, which

        binary = self.nft or which("nft")
        if binary is None:
            return None
        total = 0
        for setname in ("banned4", SET6):
            try:
                result = run([binary, "-j", "list", "set", "inet", self.table, setname], check=False, timeout=10)
                items = json.loads(result.stdout)["nftables"] if result.ok else None
            except (SecumailError, ValueError, KeyError):
                items = None
            if items is None:
                return None
            total += sum(len(item["set"].get("elem", ())) for item in items if "set" in item)
        return total

    def remove(self) -> None:
        from secumail.system.nft import remove_table_script

        self._run(remove_table_script("inet", self.table))
        if self.bridge:
            self._run(remove_table_script("bridge", self.table))


class LogFollower:
    """New complete lines of a set of files since the last call; survives rotation and truncation.

    After a rotation (the file at `path` has a new inode) the rest of the old file is read from
    `path`.1 first when that is the old inode (secumail.mail.logrotate renames to .1), so no line
    written before the rotation is missed. `positions()` gives (inode, offset) per file for
    a caller that keeps them across restarts (the metrics' state file) and passes them back.
    """

    def __init__(self, paths: Iterable[str], from_end: bool = True,
                 positions: dict[str, tuple[int | None, int]] | None = None) -> None:  # fmt: skip
        self._files: dict[str, list[Any]] = {}  # path -> [inode, offset, partial]
        for path in paths:
            if positions is not None and path in positions:
                inode, offset = positions[path]
                self._files[path] = [inode, offset, b""]
                continue
            try:
                st = os.stat(path)
                self._files[path] = [st.st_ino, st.st_size if from_end else 0, b""]
            except OSError:
                self._files[path] = [None, 0, b""]  # appears later: read it from its start

    @property
    def paths(self) -> list[str]:
        return list(self._files)

    def positions(self) -> dict[str, tuple[int | None, int]]:
        """(inode, offset of the first byte not yet returned as a line) of each file."""
        return {path: (entry[0], entry[1] - len(entry[2])) for path, entry in self._files.items()}

    def behind(self) -> bool:
        """Some file has more bytes than were read (a read stops after READ_LIMIT bytes per file)."""
        for path, entry in self._files.items():
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if st.st_ino != entry[0] or st.st_size != entry[1]:
                    return True
        return False

    def read(self) -> list[str]:
        lines: list[str] = []
        for path, entry in self._files.items():
            try:
                st = os.stat(path)
            except OSError:
                entry[0], entry[1], entry[2] = None, 0, b""
                continue
            if entry[0] != st.st_ino:
                lines.extend(self._rest_of_rotated(path, entry))
                entry[0], entry[1], entry[2] = st.st_ino, 0, b""
            elif st.st_size < entry[1]:
                entry[1], entry[2] = 0, b""
            if st.st_size == entry[1]:
                continue
            try:
                with open(path, "rb") as handle:
                    handle.seek(entry[1])
                    data = handle.read(READ_LIMIT)
            except OSError:
                continue
            entry[1] += len(data)
            data = entry[2] + data
            *complete, entry[2] = data.split(b"\n")
            if len(entry[2]) > READ_LIMIT:
                entry[2] = b""
            lines.extend(line.decode("utf-8", "replace") for line in complete)
        return lines

    @staticmethod
    def _rest_of_rotated(path: str, entry: list[Any]) -> list[str]:
        """The lines of the old file after `entry`'s offset, when it is now `path`.1."""
        from secumail.mail.logrotate import ROTATED_SUFFIX

        if entry[0] is None:
            return []
        try:
            with open(path + ROTATED_SUFFIX, "rb") as handle:
                if os.fstat(handle.fileno()).st_ino != entry[0]:
                    return []
                handle.seek(entry[1])
                data = entry[2] + handle.read(4 * READ_LIMIT)
        except OSError:
            return []
        return [line.decode("utf-8", "replace") for line in data.split(b"\n") if line]


class Guard:
    """What the daemon runs: follow, count, ban."""

    def __init__(self, options: Options, banner: NftBanner | None = None, clock: Any = None) -> None:
        import time

        self.options = options
        self.banner = banner or NftBanner()
        self.clock = clock or time.monotonic
        self.counter = FailureCounter(options.maxretry, options.findtime, options.ignore)
        self.follower = LogFollower(options.logfiles)
        self.bans = 0

    def open(self) -> None:
        self.banner.setup(self.options.ports)
        logger.info("fail2ban: following %s; %d failures in %d s ban for %d s",
                    ", ".join(self.options.logfiles), self.options.maxretry, self.options.findtime,
                    self.options.bantime)  # fmt: skip

    def update(self, options: Options) -> None:
        if options == self.options:
            return
        if options.ports != self.options.ports:
            self.banner.setup(options.ports)
        if options.logfiles != self.options.logfiles:
            self.follower = LogFollower(options.logfiles)
        self.counter.maxretry, self.counter.findtime = options.maxretry, options.findtime
        self.counter.ignore = [ipaddress.ip_network(n, strict=False) for n in options.ignore]
        self.options = options

    def poll(self) -> list[str]:
        """Read new log lines; return the addresses banned now."""
        banned = []
        now = self.clock()
        for line in self.follower.read():
            failure = parse_line(line)
            if failure is None or not self.counter.add(failure, now):
                continue
            source = self.counter.key(failure.address)
            try:
                self.banner.ban(source, self.options.bantime)
            except SecumailError as exc:
                logger.error("fail2ban: cannot ban %s: %s", source, exc)
                continue
            self.bans += 1
            banned.append(source)
            logger.warning("fail2ban: banned %s for %d s (%d failed %s logins)", source,
                           self.options.bantime, self.options.maxretry, failure.service)  # fmt: skip
        return banned

    def close(self, remove: bool = False) -> None:
        if remove:
            try:
                self.banner.remove()
            except SecumailError as exc:
                logger.error("fail2ban: %s", exc)

    def info(self) -> dict[str, Any]:
        return {"bans": self.bans, "tracked": len(self.counter), "logfiles": self.follower.paths}
