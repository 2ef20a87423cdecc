"""Reload Postfix/Dovecot and check that they serve the new certificate (stdlib only).

The reload itself is a callable given by the caller (the container layer
knows how to reach the services); this module only knows TLS: it connects to
465 (implicit TLS), 587 (SMTP STARTTLS) and 993 (implicit TLS) and compares
the certificate it is served with the one just installed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

from secumail.config.settings import Settings
from secumail.errors import SecumailError

logger = logging.getLogger(__name__)

Reloader = Callable[[], None]


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    starttls: str | None = None  # None (implicit TLS), "smtp" or "imap"


def _expect(sock_file, prefix: bytes, what: str) -> bytes:
    while True:
        line = sock_file.readline(4096)
        if not line:
            raise OSError(f"connection closed while waiting for {what}")
        if not line.startswith(prefix):
            raise OSError(f"unexpected reply to {what}: {line[:80]!r}")
        # multi-line SMTP replies: "250-..." continues, "250 ..." ends
        if prefix[:1].isdigit() and line[3:4] == b"-":
            continue
        return line


def _starttls(sock: socket.socket, protocol: str) -> None:
    reader = sock.makefile("rb")
    try:
        if protocol == "smtp":
            _expect(reader, b"220", "greeting")
            sock.sendall(b"EHLO secumail.invalid\r\n")
            _expect(reader, b"250", "EHLO")
            sock.sendall(b"STARTTLS\r\n")
            _expect(reader, b"220", "STARTTLS")
        elif protocol == "imap":
            _expect(reader, b"* OK", "greeting")
            sock.sendall(b"a STARTTLS\r\n")
            _expect(reader, b"a OK", "STARTTLS")
        else:
            raise ValueError(f"unknown STARTTLS protocol {protocol}")
    finally:
        reader.close()


def fetch_peer_cert(
    host: str, port: int, *, starttls: str | None = None, timeout: float = 5.0, server_name: str | None = None
) -> bytes:
    """DER of the certificate a server presents on host:port (not validated: we compare it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if starttls:
            _starttls(raw, starttls)
        with context.wrap_socket(raw, server_hostname=server_name or None) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("the server sent no certificate")
    return der


def default_targets(settings: Settings) -> list[Target]:
    """465, 587 and 993 (as configured) on the container's address."""
    host = "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)
    ports = settings.ports
    targets = []
    if ports.smtps:
        targets.append(Target("smtps", host, ports.smtps))
    if ports.submission:
        targets.append(Target("submission", host, ports.submission, "smtp"))
    if ports.imaps:
        targets.append(Target("imaps", host, ports.imaps))
    return targets


def verify_served(
    targets: list[Target], expected_der: bytes, *, timeout: float = 60.0, server_name: str | None = None
) -> None:
    """Wait until every target serves `expected_der`; raise SecumailError naming the first that does not."""
    deadline = time.monotonic() + timeout
    pending = list(targets)
    delay = 0.05
    last: dict[str, str] = {}
    while pending:
        still = []
        for target in pending:
            try:
                served = fetch_peer_cert(
                    target.host,
                    target.port,
                    starttls=target.starttls,
                    timeout=max(0.5, min(10.0, deadline - time.monotonic())),  # a loaded router is slow
                    server_name=server_name,
                )
            except (OSError, ssl.SSLError) as exc:
                last[target.name] = f"cannot connect: {exc}"
                still.append(target)
                continue
            if served != expected_der:
                last[target.name] = "serves an older certificate"
                still.append(target)
        pending = still
        if not pending:
            return
        if time.monotonic() >= deadline:
            target = pending[0]
            raise SecumailError(
                f"the new certificate is installed but {target.name} ({target.host}:{target.port}) "
                f"{last[target.name]}; check the mail services with 'mailctl status'"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def container_reloader(settings: Settings, container: Any,
                       hand_over: Callable[[], None]) -> Reloader | None:
    """The mail services' reload inside the running `container`; None when it is not running.

    It runs the live config generation's `container/reload` (what `deploy`
    runs: it re-installs the files and reloads Postfix, Dovecot and OpenDKIM,
    or starts what is down), so a certificate change takes the same path as
    a config change. Without a live generation: `postfix reload` and
    `doveadm reload`. `hand_over()` gives the new key to the container's root first.
    """
    import os

    from secumail.mail.layout import CONTAINER_DATA

    if container is None:
        return None
    name = settings.main.container
    live_script = os.path.join(settings.layout.live, "container", "reload")

    def reload() -> None:
        hand_over()  # the new key is the host's until the container's root gets it
        if os.path.isfile(live_script):
            commands = [[f"{CONTAINER_DATA}/config/live/container/reload"]]
        else:
            commands = [["postfix", "reload"], ["doveadm", "reload"]]
        for command in commands:
            result = container.exec(command, timeout=120)
            if result.returncode != 0:
                detail = (result.stderr or result.stdout).strip().splitlines()
                raise SecumailError(
                    f"reloading the mail services in container {name} failed ({' '.join(command)}): "
                    f"{detail[-1] if detail else 'exit ' + str(result.returncode)}; see 'mailctl logs'"
                )

    return reload
