"""Talk to secumaild over its control socket (mailctl and tests; stdlib only).

Protocol: one JSON object per line each way. A request is
`{"method": M, "params": {...}}`; a reply is the result, or
`{"error": "...", "code": 1|2}`.
"""

from __future__ import annotations

import errno
import json
import socket
from typing import Any

from secumail.daemon.paths import socket_path
from secumail.errors import InputError, SecumailError

MAX_REPLY = 16 * 1024 * 1024


class DaemonNotRunning(SecumailError):
    """No secumaild answers on the control socket."""


def call(method: str, params: dict[str, Any] | None = None, *, timeout: float = 10.0,
         path: str | None = None) -> Any:  # fmt: skip
    """Send one request and return the daemon's answer; errors become SecumailError/InputError."""
    path = path or socket_path()
    request = {"method": method}
    if params is not None:
        request["params"] = params
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR):
                raise DaemonNotRunning(
                    "secumaild is not running (start it with '/etc/init.d/mailserver start' or 'mailctl start')"
                ) from None
            if exc.errno == errno.EACCES:
                raise SecumailError(f"{path}: permission denied (the control socket is root only)") from None
            raise SecumailError(f"cannot reach secumaild at {path}: {exc.strerror}") from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise SecumailError(f"secumaild did not answer {method!r} within {timeout:.0f} s") from None
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_REPLY:
                raise SecumailError("secumaild sent an oversized reply")
    finally:
        sock.close()
    if not data.strip():
        raise SecumailError(f"secumaild closed the connection without answering {method!r}")
    try:
        reply = json.loads(data)
    except ValueError:
        raise SecumailError("secumaild sent a reply that is not JSON") from None
    if isinstance(reply, dict) and set(reply) >= {"error", "code"} and len(reply) == 2:
        if reply["code"] == 2:
            raise InputError(str(reply["error"]))
        raise SecumailError(str(reply["error"]))
    return reply
