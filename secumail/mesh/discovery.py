"""Zeroconf discovery of mesh nodes, and liveness of peers checked by us.

Discovered is not trusted: an announcement only suggests an address for a node id.
Only pinned ids are ever synced (transport._peers); an unpinned node is listed by
`mailctl mesh discovered` with its full id so a human can compare and pin it.
A pinned node that announces someone else's id is refused at connect (host key).

zeroconf does not notice a peer that died without a goodbye, so every `interval`
seconds we probe each known node ourselves (TCP connect + SSH banner) and mark it
down after MISSES failed probes: with the defaults a killed peer is down in <= 23 s.

Anyone on the LAN can announce, so the list is bounded: an entry not heard from
(announced or answering a probe) for EXPIRE seconds is dropped, and at most
MAX_DISCOVERED entries are kept (pinned ids first, then the most recently heard).

On OpenWrt umdns announces the service (procd_add_mdns in the init script, TXT
"id=<node id>"); we announce from Python only when umdns is absent, and always browse.

Run: python -m secumail.mesh.discovery [--confdir DIR] [--interval 10] [--no-announce]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from secumail.config.layout import DataLayout
from secumail.errors import InputError, SecumailError
from secumail.mesh import state
from secumail.mesh.identity import normalize_node_id, pinned_ids

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "_secumail._tcp.local."
INTERVAL = 10.0
MISSES = 2
PROBE_TIMEOUT = 3.0
MAX_DISCOVERED = 64
EXPIRE = 30 * 60.0
_lock = threading.Lock()


def _path(data_path: str) -> str:
    return os.path.join(DataLayout(data_path).mesh_state, "discovered.json")


def _heard(facts: dict[str, Any]) -> float:
    """When the node was last heard from: announced, or answering a probe."""
    times = [facts.get(k) for k in ("last_seen", "last_announced", "first_seen")]
    return max([float(t) for t in times if isinstance(t, (int, float))] or [0.0])


def _bounded(found: dict[str, dict[str, Any]], keep: set[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """Entries heard from within EXPIRE (or in `keep`), at most MAX_DISCOVERED, `keep` and newest first."""
    now = time.time()
    fresh = {n: f for n, f in found.items() if isinstance(f, dict) and (n in keep or now - _heard(f) <= EXPIRE)}
    ranked = sorted(fresh, key=lambda n: (n in keep, _heard(fresh[n])), reverse=True)
    return {n: fresh[n] for n in ranked[:MAX_DISCOVERED]}


def load_discovered(data_path: str) -> dict[str, dict[str, Any]]:
    """node id -> {address, port, announced, up, last_seen, misses, ...}, without expired entries."""
    try:
        with open(_path(data_path), "rb") as handle:
            found = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    return _bounded(found if isinstance(found, dict) else {})


def _update(
    data_path: str, node_id: str, *, create: bool = True, keep: set[str] = frozenset(), **facts: Any
) -> None:
    """Record facts about a node (a new entry only if `create`); expired and surplus entries go."""
    from secumail.system.files import file_lock, write_json

    path = _path(data_path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with _lock, file_lock(path + ".lock"):
        found = load_discovered(data_path)
        if node_id not in found and not create:
            return
        found.setdefault(node_id, {}).update(facts)
        found = _bounded(found, set(keep))
        write_json(path, found)


def umdns_present() -> bool:
    """OpenWrt's umdns announces for us (procd_add_mdns)."""
    from secumail.system.proc import which

    return which("umdns") is not None or os.path.exists("/usr/sbin/umdns")


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if something answers at host:port with an SSH banner (our sftpd does at once)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _local_ipv4(listen: str = "") -> list[str]:
    if listen:
        return [listen]
    import ifaddr  # a dependency of zeroconf

    return [
        ip.ip
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith("127.")
    ]


def instance_name(node_id: str) -> str:
    return "secumail-" + node_id.replace("-", "")[:12].lower()


class Discovery:
    """Announces this node (unless umdns does), browses, and probes liveness."""

    def __init__(
        self,
        data_path: str,
        node_id: str,
        port: int,
        pinned: Callable[[], dict[str, tuple[str, int]]],
        *,
        announce: bool = True,
        listen: str = "",
        interval: float = INTERVAL,
    ) -> None:
        self.data_path, self.node_id, self.port = data_path, node_id, port
        self.pinned = pinned  # node id -> (address or "", port), re-read every round
        self.announce, self.listen, self.interval = announce, listen, interval
        self.misses: dict[str, int] = {}
        self.stop_event = threading.Event()
        self.zc: Any = None
        self.info: Any = None

    # zeroconf -----------------------------------------------------------------
    def start(self) -> None:
        from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf

        addresses = _local_ipv4(self.listen)
        interfaces = addresses if self.listen else None
        self.zc = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only) if interfaces else Zeroconf(
            ip_version=IPVersion.V4Only
        )
        if self.announce:
            name = instance_name(self.node_id)
            self.info = ServiceInfo(
                SERVICE,
                f"{name}.{SERVICE}",
                addresses=[socket.inet_aton(a) for a in addresses],
                port=self.port,
                properties={"id": self.node_id, "v": "1"},
                server=f"{name}.local.",
            )
            self.zc.register_service(self.info, allow_name_change=True)
            log.info("announcing %s on %s port %s", self.node_id, ",".join(addresses), self.port)
        self.browser = ServiceBrowser(self.zc, SERVICE, handlers=[self._on_change])

    def _on_change(self, zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            for node_id, facts in load_discovered(self.data_path).items():
                if facts.get("name") == name:
                    _update(self.data_path, node_id, create=False, keep=self._pinned_now, announced=False)
            return
        info = zeroconf.get_service_info(service_type, name, 3000)
        if info is None:
            return
        raw = (info.properties or {}).get(b"id")
        try:
            node_id = normalize_node_id(raw.decode()) if raw else ""
        except (InputError, UnicodeDecodeError):
            node_id = ""
        if not node_id or node_id == self.node_id:
            return
        addresses = info.parsed_addresses()
        if not addresses:
            return
        now = time.time()
        known = load_discovered(self.data_path).get(node_id, {})
        _update(
            self.data_path,
            node_id,
            keep=self._pinned_now,
            name=name,
            address=addresses[0],
            port=info.port,
            announced=True,
            first_seen=known.get("first_seen", now),
            last_announced=now,
        )
        log.info("discovered %s at %s:%s", node_id, addresses[0], info.port)
        self._probe_one(node_id, addresses[0], info.port)  # up at once, not at the next round

    # liveness -------------------------------------------------------------------
    def _probe_one(self, node_id: str, host: str, port: int) -> None:
        now = time.time()
        alive = probe(host, port)
        if alive:
            self.misses[node_id] = 0
        else:
            self.misses[node_id] = self.misses.get(node_id, 0) + 1
        facts: dict[str, Any] = {"last_probe": now, "misses": self.misses[node_id]}
        if alive:
            facts.update(up=True, last_seen=now)
        elif self.misses[node_id] >= MISSES:
            facts["up"] = False
        _update(self.data_path, node_id, create=node_id in self._pinned_now, keep=self._pinned_now, **facts)
        if node_id in self._pinned_now:
            state.update(self.data_path, node_id, **{k: v for k, v in facts.items() if k in ("up", "last_seen")})

    def probe_round(self) -> None:
        pinned = self.pinned()
        self._pinned_now = set(pinned)
        found = load_discovered(self.data_path)
        targets: dict[str, tuple[str, int]] = {}
        for node_id, facts in found.items():
            if facts.get("address"):
                targets[node_id] = (facts["address"], int(facts.get("port") or self.port))
        for node_id, (address, port) in pinned.items():
            if address:  # a manual address wins over an announced one
                targets[node_id] = (address, port)
        if not targets:
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            list(pool.map(lambda item: self._probe_one(item[0], *item[1]), targets.items()))

    _pinned_now: set[str] = set()

    def run(self) -> None:
        self.start()
        try:
            while not self.stop_event.is_set():
                try:
                    self.probe_round()
                except (OSError, SecumailError) as exc:
                    log.warning("liveness round failed: %s", exc)
                self.stop_event.wait(self.interval)
        finally:
            self.close()

    def close(self) -> None:
        if self.zc is not None:
            if self.info is not None:
                self.zc.unregister_service(self.info)
            self.zc.close()
            self.zc = None


def pinned_addresses(settings: Settings) -> dict[str, tuple[str, int]]:
    """node id → (address pinned, '' if none; port) of every pinned peer."""
    return {p.node_id: (p.address, p.port) for p in settings.pinned_peers}


def discovered_rows(settings: Settings) -> list[dict[str, Any]]:
    """What `mailctl mesh discovered` shows: every node seen, pinned or not."""
    pinned = pinned_ids(settings)
    rows = []
    for node_id, facts in sorted(load_discovered(settings.main.data_path).items()):
        rows.append(
            {
                "node_id": node_id,
                "address": facts.get("address", ""),
                "port": facts.get("port"),
                "pinned": node_id in pinned,
                "up": facts.get("up"),
                "announced": facts.get("announced", False),
                "last_seen": state._when(facts.get("last_seen")),
            }
        )
    return rows


def run(confdir: str | None = None, stop: threading.Event | None = None, **kwargs: Any) -> None:
    """Run discovery until `stop` is set (for the daemon's worker, or __main__)."""
    from secumail.config import load_settings
    from secumail.mesh.identity import load_or_create

    settings = load_settings(confdir)
    node = load_or_create(settings.main.data_path)
    announce = kwargs.pop("announce", None)
    if announce is None:
        announce = not umdns_present()

    def pinned() -> dict[str, tuple[str, int]]:
        try:
            return pinned_addresses(load_settings(confdir))  # pins change while we run
        except SecumailError:
            return pinned_addresses(settings)

    disc = Discovery(settings.main.data_path, node.node_id, settings.mesh.port, pinned, announce=announce, **kwargs)
    if stop is not None:
        disc.stop_event = stop
    disc.run()


def main(argv: list[str] | None = None) -> int:
    import signal

    parser = argparse.ArgumentParser(prog="secumail-mesh-discovery")
    parser.add_argument("--confdir")
    parser.add_argument("--listen", default="", help="announce this IPv4 address (default: all)")
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between liveness probes")
    parser.add_argument("--no-announce", dest="announce", action="store_false", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        run(args.confdir, stop, announce=args.announce, listen=args.listen, interval=args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
