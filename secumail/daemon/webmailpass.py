"""The webmail's password-change service in secumaild: a listening socket, inetd-style like the mesh's.

While webmail.enabled and webmail.password_port, the daemon listens on the bridge's host address at
that port (IP_FREEBIND: the bridge may get its address after the daemon starts). A connection from
any address but the webmail container's is closed at once; one from it goes to a short-lived
`python -m secumail.appliance.webmailpass --fd N` worker (bcrypt, the account files), at most
MAX_WORKERS at a time, so the loop never waits for a password hash.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import subprocess
from typing import Any

from secumail.appliance.webmailpass import STATE_FILE
from secumail.config.settings import Settings
from secumail.daemon import paths
from secumail.daemon.workers import start_module, terminate

logger = logging.getLogger("secumaild")

MAX_WORKERS = 2
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def wanted(settings: Settings) -> tuple[str, int] | None:
    """(host address, port) to listen on, or None when the service is off."""
    w = settings.webmail
    if not w.enabled or not w.password_port or settings.container.network_mode != "bridge":
        return None
    return str(settings.container.host_address.ip), w.password_port


class PasswordService:
    def __init__(self, selector: selectors.BaseSelector, confdir: str) -> None:
        self.selector = selector
        self.confdir = confdir
        self.listener: socket.socket | None = None
        self.where: tuple[str, int] | None = None
        self.webmail_ip = ""
        self.workers: list[subprocess.Popen] = []
        self.served = 0
        self.refused = 0

    def update(self, settings: Settings) -> None:
        """Listen while the settings want it, on the address and port they name."""
        from secumail.mail.webmail import webmail_address

        want = wanted(settings)
        self.webmail_ip = str(webmail_address(settings).ip)
        if want == self.where and self.listener is not None:
            return
        self._close_listener()
        if want is not None:
            self._open(want)

    def _open(self, where: tuple[str, int]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind(where)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            logger.error("webmail password change: cannot listen on %s:%d: %s (retried at the next reconcile)",
                         *where, exc.strerror or exc)  # fmt: skip
            return
        sock.setblocking(False)
        sock.set_inheritable(False)
        self.selector.register(sock, selectors.EVENT_READ, lambda mask: self._accept())
        self.listener, self.where = sock, where
        logger.info("webmail password change: listening on %s:%d for %s", *where, self.webmail_ip)

    def _close_listener(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.listener)
            self.listener.close()
        self.listener, self.where = None, None

    def close(self) -> None:
        self._close_listener()
        for worker in self.workers:
            terminate(worker)
        self.workers = []

    def check_children(self) -> None:
        self.workers = [w for w in self.workers if w.poll() is None]

    def info(self) -> dict[str, Any]:
        where = f"{self.where[0]}:{self.where[1]}" if self.listener is not None and self.where else None
        return {"listening": where, "served": self.served, "refused": self.refused}

    def _accept(self) -> None:
        if self.listener is None:
            return
        try:
            conn, addr = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.warning("webmail password change: accept failed: %s", exc)
            return
        with conn:
            self.check_children()
            if addr[0] != self.webmail_ip:
                self.refused += 1
                logger.warning("webmail password change: refused a connection from %s (only %s may ask)",
                               addr[0], self.webmail_ip)  # fmt: skip
                return
            if len(self.workers) >= MAX_WORKERS:
                self.refused += 1
                logger.warning("webmail password change: %d requests already served; closing another", MAX_WORKERS)
                return
            conn.setblocking(True)
            worker = self.hand_over(conn)
        if worker is not None:
            self.workers.append(worker)
            self.served += 1

    def hand_over(self, conn: socket.socket) -> Any:
        """Start the worker serving `conn` (the caller closes its own copy); None when it cannot start."""
        fd = conn.fileno()
        state = os.path.join(paths.rundir(), STATE_FILE)
        try:
            return start_module("secumail.appliance.webmailpass", self.confdir, "--state", state, fd=fd)
        except OSError as exc:
            logger.error("webmail password change: cannot start the worker: %s", exc.strerror)
            return None
