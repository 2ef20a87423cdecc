"""Waiting for a server's greeting: the one poll both a container start and an update's self-test use."""

from __future__ import annotations

import socket
import time


def wait_for_greeting(address: str, port: int, *, prefix: bytes = b"220", timeout: float) -> float:
    """Seconds until a connection to address:port reads a line starting with `prefix`. TimeoutError
    after `timeout` s, its text the last reason there was none (one line)."""
    began = time.monotonic()
    last = "no answer"
    while time.monotonic() - began < timeout:
        try:
            with socket.create_connection((address, port), timeout=2) as conn:
                conn.settimeout(5)
                if conn.recv(512).startswith(prefix):
                    return time.monotonic() - began
        except OSError as exc:
            text = str(exc).strip().splitlines()
            last = text[-1][:200] if text else type(exc).__name__
        time.sleep(0.05)
    raise TimeoutError(last)
