"""The mesh port's listening sockets: shared by secumaild and the standalone SFTP service, no paramiko."""

from __future__ import annotations

import socket


def listen_socket(address: str, port: int) -> socket.socket:
    """A listening socket on one address; '' (or '::') is every address, IPv4 too where possible."""
    if address in ("", "::"):
        try:
            return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=16)
        except (OSError, ValueError):
            return socket.create_server(("", port), backlog=16)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.create_server((address, port), family=family, backlog=16)
