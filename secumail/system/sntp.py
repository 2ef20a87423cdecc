"""The clock's offset from an NTP server: one SNTP request (RFC 4330), standard library only."""

from __future__ import annotations

import socket
import struct
import time

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


def _stamp(data: bytes, at: int) -> float:
    seconds, fraction = struct.unpack("!II", data[at : at + 8])
    return seconds - NTP_EPOCH + fraction / 2**32


def offset(server: str, timeout: float = 2.0, port: int = 123) -> float:
    """How far the server's clock is ahead of ours, in seconds. Raises OSError when it does not answer
    within `timeout` or answers nonsense (ValueError for a kiss-of-death or an unsynchronised server)."""
    request = b"\x23" + b"\0" * 47  # LI 0, version 4, mode 3 (client)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sent = time.time()
        sock.send(request)
        data = sock.recv(512)
        received = time.time()
    if len(data) < 48 or data[0] & 0x07 not in (4, 5):
        raise ValueError(f"{server} did not answer as an NTP server")
    if data[1] == 0 or data[0] >> 6 == 3:
        raise ValueError(f"{server} is not synchronised itself")
    server_received, server_sent = _stamp(data, 32), _stamp(data, 40)
    return ((server_received - sent) + (server_sent - received)) / 2
