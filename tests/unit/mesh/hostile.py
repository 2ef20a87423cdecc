"""A hostile mesh peer for tests: an SFTP server on loopback that serves crafted listings.

`listing` maps a directory path as the client asks for it (e.g. "/repo", "/repo/../..")
to the entries it answers with; `contents` maps a path to the bytes a read returns
(anything else reads as b"pwned"). It accepts any client key.
"""

from __future__ import annotations

import io
import socket
import stat
import threading

import paramiko
from paramiko.sftp import SFTP_NO_SUCH_FILE


def entry(name: str, kind: str = "f", size: int = 5) -> paramiko.SFTPAttributes:
    attr = paramiko.SFTPAttributes()
    attr.filename = name
    attr.st_mode = {"f": stat.S_IFREG | 0o600, "d": stat.S_IFDIR | 0o700, "l": stat.S_IFLNK | 0o777}[kind]
    attr.st_size = size
    return attr


class _AnyKey(paramiko.ServerInterface):
    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED


class _Crafted(paramiko.SFTPServerInterface):
    world: HostilePeer

    def list_folder(self, path):
        self.world.asked.append(path)
        return self.world.listing.get(path.rstrip("/") or "/", SFTP_NO_SUCH_FILE)

    def stat(self, path):
        if path in self.world.listing:
            return entry(path.rsplit("/", 1)[-1], "d", 0)
        return entry(path.rsplit("/", 1)[-1], "f", len(self.world.contents.get(path, b"pwned")))

    lstat = stat

    def open(self, path, flags, attr):
        handle = paramiko.SFTPHandle(flags)
        handle.readfile = io.BytesIO(self.world.contents.get(path, b"pwned"))
        return handle


class HostilePeer:
    def __init__(self, host_key: paramiko.PKey) -> None:
        self.host_key = host_key
        self.listing: dict[str, list[paramiko.SFTPAttributes]] = {}
        self.contents: dict[str, bytes] = {}
        self.asked: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        crafted = type("Crafted", (_Crafted,), {"world": self})
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, crafted)
            self.transports.append(transport)
            transport.start_server(server=_AnyKey())

    def close(self) -> None:
        self.sock.close()
        for transport in self.transports:
            transport.close()
