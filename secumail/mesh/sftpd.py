"""The node's SFTP service for peers (paramiko), accepting only pinned Ed25519 keys.

What a connected peer P sees:
  /repo    our repository, read-only (P pulls it to hold a copy of our backups)
  /stored  P's own repository as we hold it, read-only (P restores from it)
  /inbox   P's inbox here: create new files and rename a temp file to a free name;
           no reading, overwriting, deleting, or anything outside it; quota per peer
A key that is not pinned but matches a `recovery.pub` signed by the node whose
copy we hold may read that copy's /stored only (`mailctl mesh recover`).

Run: python -m secumail.mesh.sftpd [--confdir DIR] [--listen ADDR]
     python -m secumail.mesh.sftpd [--confdir DIR] --fd N   (one accepted connection, inetd-style:
     secumaild holds the listening socket and hands each connection to a short-lived worker)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import threading
from typing import Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

from secumail.mesh.identity import NodeKey, load_or_create, node_id_of, pinned_ids

log = logging.getLogger(__name__)


def raw_public(key: paramiko.PKey) -> bytes | None:
    if key.get_name() != "ssh-ed25519":
        return None
    return key.asbytes()[-32:]


class Access:
    """Who is connected and which directories that gives them."""

    def __init__(self, data_path: str, node: str, recovery: bool = False) -> None:
        backup = os.path.join(data_path, "backup")
        self.node = node
        self.recovery = recovery
        self.roots = {"stored": os.path.join(backup, "peers", node)}
        if not recovery:
            self.roots["repo"] = os.path.join(backup, "repo")
            self.roots["inbox"] = os.path.join(backup, "inbox", node)


class Server(paramiko.ServerInterface):
    def __init__(self, data_path: str, pinned: set[str]) -> None:
        self.data_path = data_path
        self.pinned = pinned
        self.access: Access | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        raw = raw_public(key)
        if raw is None:
            return paramiko.AUTH_FAILED
        node = node_id_of(raw)
        if node in self.pinned:
            self.access = Access(self.data_path, node)
            log.info("peer %s authenticated", node)
            return paramiko.AUTH_SUCCESSFUL
        from secumail.mesh.recovery import recovery_public_key

        peers_dir = os.path.join(self.data_path, "backup", "peers")
        for held in sorted(os.listdir(peers_dir)) if os.path.isdir(peers_dir) else []:
            if recovery_public_key(os.path.join(peers_dir, held), held) == raw:
                self.access = Access(self.data_path, held, recovery=True)
                log.info("recovery key of %s authenticated", held)
                return paramiko.AUTH_SUCCESSFUL
        log.warning("refused unpinned key of node %s", node)
        return paramiko.AUTH_FAILED


class _Handle(paramiko.SFTPHandle):
    def __init__(self, flags: int, jail: Jail | None = None, path: str = "") -> None:
        super().__init__(flags)
        self.jail = jail
        self.path = path

    def write(self, offset: int, data: bytes) -> int:
        if self.jail is not None and not self.jail.charge(len(data)):
            return SFTP_FAILURE  # quota: the client reports it, nothing already written is touched
        try:
            return super().write(offset, data)
        except OSError:
            return SFTP_FAILURE


class Jail(paramiko.SFTPServerInterface):
    """Maps virtual paths to the connected peer's directories and enforces the rules."""

    quota_bytes = 0
    lock = threading.Lock()

    def __init__(self, server: Server, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.access: Access = server.access  # type: ignore[assignment]
        self.used: int | None = None

    def _resolve(self, path: str) -> tuple[str, str] | None:
        parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts or not parts or parts[0] not in self.access.roots:
            return None
        rest = [p for p in parts[1:]]
        if (
            any(p.startswith(".") and not p.startswith(".tmp-") for p in rest)
            or (rest[-1] if rest else "") == "lock"
        ):
            return None
        return parts[0], os.path.join(self.access.roots[parts[0]], *rest)

    def charge(self, size: int) -> bool:
        """Quota over what the peer holds here (inbox + store), counted once per connection."""
        if not self.quota_bytes:
            return True
        from secumail.mesh.state import stored_bytes

        with self.lock:
            if self.used is None:
                self.used = stored_bytes(self.access.roots["inbox"]) + stored_bytes(self.access.roots["stored"])
            if self.used + size > self.quota_bytes:
                return False
            self.used += size
            return True

    # reading ----------------------------------------------------------------
    def list_folder(self, path: str) -> Any:
        where = self._resolve(path)
        if path.strip("/") in ("", "."):
            return [_dir_attr(name) for name in self.access.roots]
        if where is None:
            return SFTP_PERMISSION_DENIED
        try:  # the own inbox may be listed (names and sizes of what landed: resume), never read
            out = []
            for name in os.listdir(where[1]):
                if name == "lock" or name.startswith("."):
                    continue
                attr = paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(where[1], name)))
                attr.filename = name
                out.append(attr)
            return out
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> Any:
        if path.strip("/") in ("", "."):
            return _dir_attr("/")
        where = self._resolve(path)
        if where is None:
            return SFTP_PERMISSION_DENIED
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(where[1]))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    lstat = stat

    def canonicalize(self, path: str) -> str:
        return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))

    def open(self, path: str, flags: int, attr: Any) -> Any:
        where = self._resolve(path)
        if where is None:
            return SFTP_PERMISSION_DENIED
        root, real = where
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        if root != "inbox":
            if writing:
                return SFTP_PERMISSION_DENIED
            try:
                handle = _Handle(flags)
                handle.readfile = open(real, "rb")  # noqa: SIM115 - closed by paramiko with the handle
                return handle
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
        if not writing or flags & os.O_RDWR:
            return SFTP_PERMISSION_DENIED  # an inbox is write-only
        if not os.path.basename(real).startswith(".tmp-"):
            return SFTP_PERMISSION_DENIED  # write to a temp name, then rename: a final name is never half-written
        try:
            os.makedirs(os.path.dirname(real), mode=0o700, exist_ok=True)
            fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = _Handle(flags, self, real)
        handle.writefile = os.fdopen(fd, "wb")
        return handle

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._resolve(oldpath), self._resolve(newpath)
        if old is None or new is None or old[0] != "inbox" or new[0] != "inbox":
            return SFTP_PERMISSION_DENIED
        if not os.path.basename(old[1]).startswith(".tmp-") or os.path.basename(new[1]).startswith("."):
            return SFTP_PERMISSION_DENIED
        rel = os.path.relpath(new[1], self.access.roots["inbox"])
        if os.path.lexists(os.path.join(self.access.roots["stored"], rel)):
            return SFTP_PERMISSION_DENIED  # landed earlier and moved to the store: never overwritten
        try:
            os.makedirs(os.path.dirname(new[1]), mode=0o700, exist_ok=True)
            os.link(old[1], new[1])  # fails if the final name exists: nothing is ever overwritten
            os.unlink(old[1])
        except FileExistsError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        from secumail.mesh.ingest import ingest

        ingest(self.access.roots["inbox"], self.access.roots["stored"], rel, self.access.node)
        return SFTP_OK

    def mkdir(self, path: str, attr: Any) -> int:
        where = self._resolve(path)
        if where is None or where[0] != "inbox":
            return SFTP_PERMISSION_DENIED
        try:
            os.makedirs(where[1], mode=0o700, exist_ok=True)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return SFTP_OK

    def remove(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str, attr: Any) -> int:
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def readlink(self, path: str) -> Any:
        return SFTP_NO_SUCH_FILE


def _dir_attr(name: str) -> paramiko.SFTPAttributes:
    import stat as st

    attr = paramiko.SFTPAttributes()
    attr.filename = name
    attr.st_mode = st.S_IFDIR | 0o500
    attr.st_size = 0
    return attr


def handle_connection(sock: socket.socket, node: NodeKey, data_path: str, pinned: set[str]) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.add_server_key(node.paramiko_key())
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, Jail)
    server = Server(data_path, pinned)
    try:
        transport.start_server(server=server)
        channel = transport.accept(30)
        if channel is None:
            transport.close()
            return
        while transport.is_active():
            transport.join(1)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        log.info("connection ended: %s", exc)
    finally:
        transport.close()
        if server.access is not None and "inbox" in server.access.roots:
            _drop_temps(server.access.roots["inbox"])
            from secumail.mesh.ingest import ingest_all

            ingest_all(server.access.roots["inbox"], server.access.roots["stored"], server.access.node)


def _drop_temps(inbox: str) -> None:
    """Half-written files of a cut connection: the object in flight is all that is lost."""
    for dirpath, _dirs, files in os.walk(inbox):
        for name in files:
            if name.startswith(".tmp-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))


def serve(settings: Any, listen: str = "", ready: threading.Event | None = None) -> None:
    data_path = settings.main.data_path
    node = load_or_create(data_path)
    Jail.quota_bytes = settings.mesh.peer_quota << 20
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen, settings.mesh.port))
    sock.listen(16)
    log.info("mesh sftp for node %s on %s:%s", node.node_id, listen or "*", settings.mesh.port)
    if ready is not None:
        ready.set()
    while True:
        conn, _addr = sock.accept()
        threading.Thread(
            target=handle_connection, args=(conn, node, data_path, pinned_ids(settings)), daemon=True
        ).start()


def main(argv: list[str] | None = None) -> int:
    from secumail.config import load_settings

    parser = argparse.ArgumentParser(prog="secumail-mesh-sftpd")
    parser.add_argument("--confdir")
    parser.add_argument("--listen", default="")
    parser.add_argument("--fd", type=int, help="serve the one connected socket on this inherited fd, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(args.confdir)
    if args.fd is not None:
        conn = socket.socket(fileno=args.fd)
        Jail.quota_bytes = settings.mesh.peer_quota << 20
        node = load_or_create(settings.main.data_path)
        handle_connection(conn, node, settings.main.data_path, pinned_ids(settings))
        return 0
    serve(settings, args.listen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
