"""Polling instead of fixed sleeps: wait for a condition, or for a port to answer, with a deadline."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str = "the condition",
    interval: float = 0.05,
    proc: subprocess.Popen | None = None,
) -> T:
    """Call `predicate` until it returns something true (returned); exceptions count as not yet.
    AssertionError naming `what` after `timeout` s, or at once when `proc` has exited."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"waiting for {what}: the process exited with {proc.returncode}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" ({last})" if last else ""))
        time.sleep(interval)


def stays(predicate: Callable[[], object], *, seconds: float, what: str = "the state", interval: float = 0.1) -> None:
    """Assert that `predicate` stays true for `seconds` (checked every `interval`)."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate(), f"{what} did not hold for {seconds} s"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def port_open(host: str, port: int, *, udp: bool = False) -> bool:
    """One TCP connect (or UDP connect, which only checks the route) to host:port."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True


def wait_port(host: str, port: int, *, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Until something accepts TCP connections on host:port (or `proc` exits: AssertionError)."""
    wait_until(lambda: port_open(host, port), timeout=timeout, what=f"{host}:{port} to open", proc=proc)
