"""The control socket: root-only, one JSON request per line, one reply per line.

Non-blocking, driven by the daemon's selector; a slow or silent client costs a
file descriptor and nothing else, and is dropped after `IDLE_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import stat
import struct
import time
from typing import Any, Callable

from secumail.errors import InputError, SecumailError

logger = logging.getLogger(__name__)

MAX_REQUEST = 256 * 1024
MAX_CLIENTS = 16
IDLE_TIMEOUT = 60.0
_UCRED = struct.Struct("3i")

Dispatcher = Callable[[str, dict[str, Any]], Any]


def peer_uid(conn: socket.socket) -> int:
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    _pid, uid, _gid = _UCRED.unpack(raw)
    return uid


class _Client:
    __slots__ = ("sock", "inbuf", "outbuf", "seen")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.seen = time.monotonic()


class ControlServer:
    def __init__(self, path: str, selector: selectors.BaseSelector, dispatch: Dispatcher,
                 allowed_uid: int = 0) -> None:  # fmt: skip
        self.path = path
        self.selector = selector
        self.dispatch = dispatch
        self.allowed_uid = allowed_uid
        self.clients: dict[int, _Client] = {}
        self.sock: socket.socket | None = None

    def open(self) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.setblocking(False)
        self.sock = sock
        self.selector.register(sock, selectors.EVENT_READ, lambda mask: self._accept())

    def close(self) -> None:
        for fd in list(self.clients):
            self._drop(fd)
        if self.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def expire(self) -> None:
        """Drop clients idle for longer than IDLE_TIMEOUT (called from a daemon timer)."""
        limit = time.monotonic() - IDLE_TIMEOUT
        for fd, client in list(self.clients.items()):
            if client.seen < limit:
                self._drop(fd)

    def _accept(self) -> None:
        if self.sock is None:
            return
        try:
            conn, _addr = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        try:
            uid = peer_uid(conn)
        except OSError:
            uid = -1
        if uid != self.allowed_uid or len(self.clients) >= MAX_CLIENTS:
            reason = "permission denied: the control socket is root only" if uid != self.allowed_uid else "busy"
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"error": reason, "code": 1}).encode() + b"\n")
            conn.close()
            logger.warning("control socket: refused a client (uid %d): %s", uid, reason)
            return
        conn.setblocking(False)
        client = _Client(conn)
        self.clients[conn.fileno()] = client
        self.selector.register(conn, selectors.EVENT_READ, lambda mask, c=client: self._io(c, mask))

    def _io(self, client: _Client, mask: int) -> None:
        fd = client.sock.fileno()
        client.seen = time.monotonic()
        if mask & selectors.EVENT_READ:
            try:
                chunk = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                chunk = None
            except OSError:
                self._drop(fd)
                return
            if chunk == b"":
                if not client.outbuf:
                    self._drop(fd)
                    return
            elif chunk:
                client.inbuf += chunk
                if len(client.inbuf) > MAX_REQUEST and b"\n" not in client.inbuf:
                    client.outbuf += self._encode({"error": "request too large", "code": 2})
                    client.inbuf = b""
                while b"\n" in client.inbuf:
                    line, client.inbuf = client.inbuf.split(b"\n", 1)
                    if line.strip():
                        client.outbuf += self._encode(self._answer(line))
        if client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
                client.outbuf = client.outbuf[sent:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._drop(fd)
                return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbuf else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(client.sock, events, lambda m, c=client: self._io(c, m))

    def _answer(self, line: bytes) -> Any:
        try:
            request = json.loads(line)
        except ValueError:
            return {"error": "the request is not JSON", "code": 2}
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"error": 'a request is {"method": NAME, "params": {...}}', "code": 2}
        params = request.get("params") or {}
        if not isinstance(params, dict):
            return {"error": "params must be an object", "code": 2}
        try:
            return self.dispatch(request["method"], params)
        except InputError as exc:
            return {"error": str(exc), "code": 2}
        except SecumailError as exc:
            return {"error": str(exc), "code": 1}
        except Exception as exc:  # noqa: BLE001 - a bug answers one line; the daemon stays up
            logger.exception("control request %s failed", request.get("method"))
            return {"error": f"internal error: {type(exc).__name__}: {exc}", "code": 1}

    @staticmethod
    def _encode(reply: Any) -> bytes:
        return json.dumps(reply, default=str).encode() + b"\n"

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()
