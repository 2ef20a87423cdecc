"""The mesh side of secumaild: the SFTP listener (inetd-style) and the discovery worker.

The daemon never imports paramiko or zeroconf. It holds the listening sockets on
mesh.port (one per mesh.listen address, or one for every address) and hands each
accepted connection to a short-lived `python -m secumail.mesh.sftpd --fd N`
worker that serves that one peer and exits; a bounded number run at once (RAM),
and at most MAX_PER_ADDRESS from one address, so one host cannot take them all. Discovery (zeroconf browsing and
our liveness probes) is one long-lived `python -m secumail.mesh.discovery`
worker while mesh.enabled and mesh.discovery; if it dies it is started again
after a backoff (5 s doubling to 5 min, reset once it ran for 10 min).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import subprocess
import time
from typing import Any

from secumail.config.settings import Settings
from secumail.daemon.workers import start_module, terminate
from secumail.mesh.listener import listen_socket

logger = logging.getLogger("secumaild")

MAX_CONNECTIONS = 4
MAX_PER_ADDRESS = 2
DISCOVERY_BACKOFF = 5.0
DISCOVERY_BACKOFF_CAP = 300.0
DISCOVERY_STABLE = 600.0


class MeshService:
    def __init__(self, selector: selectors.BaseSelector, confdir: str) -> None:
        self.selector = selector
        self.confdir = confdir
        self.listeners: list[socket.socket] = []
        self.port = 0
        self.listen: tuple[str, ...] = ()
        self.workers: list[tuple[subprocess.Popen, str]] = []  # (worker, peer address)
        self.served = 0
        self.refused = 0
        self.discovery: subprocess.Popen | None = None
        self.discovery_started = 0.0
        self.discovery_failures = 0
        self.discovery_restarts = 0
        self.discovery_not_before = 0.0
        self.want_discovery = False

    # -- what reconcile calls ---------------------------------------------------------

    def update(self, settings: Settings) -> float | None:
        """Match mesh.enabled/port/discovery; returns seconds until discovery should be retried, if waiting."""
        mesh = settings.mesh
        if not mesh.enabled:
            self.close()
            return None
        if not self.listeners or self.port != mesh.port or self.listen != tuple(mesh.listen):
            self._close_listener()
            self._open_listener(mesh.port, tuple(mesh.listen))
        self.want_discovery = bool(mesh.discovery)
        if not self.want_discovery:
            self._stop_discovery()
            return None
        return self.ensure_discovery()

    def ensure_discovery(self) -> float | None:
        if not self.want_discovery or (self.discovery is not None and self.discovery.poll() is None):
            return None
        wait = self.discovery_not_before - time.monotonic()
        if wait > 0:
            return wait
        try:
            self.discovery = start_module("secumail.mesh.discovery", self.confdir)
        except OSError as exc:
            logger.error("mesh discovery not started: %s", exc.strerror)
            return self._discovery_backoff()
        self.discovery_started = time.monotonic()
        logger.info("mesh discovery worker started, pid %d", self.discovery.pid)
        return None

    def check_children(self) -> float | None:
        """Reap finished SFTP workers; notice a dead discovery worker (returns the delay before its restart)."""
        self.workers = [(w, a) for w, a in self.workers if w.poll() is None]
        if self.discovery is None or self.discovery.poll() is None:
            return None
        rc = self.discovery.returncode
        ran = time.monotonic() - self.discovery_started
        self.discovery = None
        if not self.want_discovery:
            return None
        if ran > DISCOVERY_STABLE:
            self.discovery_failures = 0
        delay = self._discovery_backoff()
        self.discovery_restarts += 1
        logger.error("mesh discovery worker exited with %s after %.0f s; restarting in %.0f s", rc, ran, delay)
        return delay

    def _discovery_backoff(self) -> float:
        self.discovery_failures += 1
        delay = min(DISCOVERY_BACKOFF * 2 ** (self.discovery_failures - 1), DISCOVERY_BACKOFF_CAP)
        self.discovery_not_before = time.monotonic() + delay
        return delay

    def close(self) -> None:
        self._close_listener()
        self.want_discovery = False
        self._stop_discovery()
        for worker, _address in self.workers:
            terminate(worker)
        self.workers = []

    def info(self) -> dict[str, Any]:
        return {
            "listening": self.port if self.listeners else None,
            "listen": list(self.listen) or ["*"],
            "connections": len([w for w, _a in self.workers if w.poll() is None]),
            "served": self.served,
            "refused": self.refused,
            "discovery_pid": self.discovery.pid if self.discovery is not None else None,
            "discovery_restarts": self.discovery_restarts,
        }

    # -- listener ------------------------------------------------------------------------

    def _open_listener(self, port: int, listen: tuple[str, ...] = ()) -> None:
        opened = []
        for address in listen or ("",):
            try:
                opened.append(listen_socket(address, port))
            except (OSError, ValueError) as exc:
                where = f"{address}:{port}" if address else f"port {port}"
                logger.error("mesh: cannot listen on %s: %s (retried at the next reconcile)",
                             where, getattr(exc, "strerror", None) or exc)  # fmt: skip
        if len(opened) < len(listen or ("",)):
            for sock in opened:
                sock.close()
            return
        for sock in opened:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, lambda mask, sock=sock: self._accept(sock))
        self.listeners, self.port, self.listen = opened, port, listen
        logger.info("mesh: listening for peers on %s port %d", ",".join(listen) or "every address", port)

    def _close_listener(self) -> None:
        for sock in self.listeners:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        self.listeners = []

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.warning("mesh: accept failed: %s", exc)
            return
        peer = str(addr[0]).removeprefix("::ffff:")  # the dual-stack socket shows IPv4 peers mapped
        with conn:
            self.workers = [(w, a) for w, a in self.workers if w.poll() is None]
            if len(self.workers) >= MAX_CONNECTIONS:
                self.refused += 1
                logger.warning("mesh: %d peer connections already served; closing the one from %s",
                               MAX_CONNECTIONS, peer)  # fmt: skip
                return
            if sum(1 for _w, a in self.workers if a == peer) >= MAX_PER_ADDRESS:
                self.refused += 1
                logger.warning("mesh: %s already has %d connections; closing another", peer, MAX_PER_ADDRESS)
                return
            conn.setblocking(True)
            fd = conn.fileno()
            try:
                worker = start_module("secumail.mesh.sftpd", self.confdir, fd=fd)
            except OSError as exc:
                logger.error("mesh: cannot start the SFTP worker: %s", exc.strerror)
                return
        self.workers.append((worker, peer))
        self.served += 1
        logger.info("mesh: connection from %s handed to SFTP worker pid %d", peer, worker.pid)

    def _stop_discovery(self) -> None:
        if self.discovery is not None:
            terminate(self.discovery)
            self.discovery = None
