"""The node's SFTP service for peers (paramiko), accepting only pinned Ed25519 keys.

What a connected peer P sees:
  /repo    our repository, read-only (P pulls it to hold a copy of our backups)
  /stored  P's own repository as we hold it, read-only (P restores from it)
  /inbox   P's inbox here: create new files and rename a temp file to a free name;
           no reading, overwriting, deleting, or anything outside it; quota per peer
A key that is not pinned but matches a `recovery.pub` signed by the node whose
copy we hold may read that copy's /stored only (`mailctl mesh recover`).

The inbox takes only names of the repository layout (layout.INBOX_FILE), written
strictly in order (a write at any offset but the file's end is refused), and what
a peer holds here (inbox + store, each file at least one 4 KiB block) is counted
in a ledger shared by all its connections, each of which is its own process.
A connection that has not authenticated within PREAUTH_TIMEOUT seconds, or is
idle for IDLE_TIMEOUT, is closed. Pinned peers are read again for each connection.

Run: python -m secumail.mesh.sftpd [--confdir DIR] [--listen ADDR[,ADDR...]]
     python -m secumail.mesh.sftpd [--confdir DIR] --fd N   (one accepted connection, inetd-style:
     secumaild holds the listening socket and hands each connection to a short-lived worker)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

from secumail.config.layout import DataLayout
from secumail.mesh import layout
from secumail.mesh.identity import NodeKey, load_or_create, node_id_of, pinned_ids

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)
PREAUTH_TIMEOUT = 10.0  # seconds from TCP accept to a successful public-key auth
IDLE_TIMEOUT = 300.0  # an authenticated connection with no SFTP request for this long is closed


def raw_public(key: paramiko.PKey) -> bytes | None:
    if key.get_name() != "ssh-ed25519":
        return None
    return key.asbytes()[-32:]


class Access:
    """Who is connected and which directories that gives them."""

    def __init__(self, data_path: str, node: str, recovery: bool = False) -> None:
        layout = DataLayout(data_path)
        self.node = node
        self.recovery = recovery
        self.roots = {"stored": layout.peer_store(node)}
        if not recovery:
            self.roots["repo"] = layout.repository
            self.roots["inbox"] = layout.peer_inbox(node)


class PeerUsage:
    """Bytes one peer holds here (inbox + store), in a ledger shared by all its connections.

    Each connection holds a shared flock on `.<node>.live` while it lasts; a connection
    that finds none other live (the exclusive lock succeeds) measures the directories
    afresh, so space freed by dropped temp files or pruning is counted again.
    Writes reserve space in steps of CHUNK under an exclusive lock on the ledger.
    """

    CHUNK = 1 << 20

    def __init__(self, access: Access, quota: int) -> None:
        base = os.path.dirname(access.roots["inbox"])
        self.access, self.quota = access, quota
        self.ledger = os.path.join(base, f".{access.node}.usage")
        self.live = os.path.join(base, f".{access.node}.live")
        self.allowance = 0
        self.live_fd: int | None = None

    def join(self) -> None:
        from secumail.mesh.state import held_bytes
        from secumail.system.files import file_lock

        os.makedirs(os.path.dirname(self.ledger), mode=0o700, exist_ok=True)
        self.live_fd = os.open(self.live, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.live_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # other connections of this peer are live: keep their ledger
        else:
            drop_temps(self.access.roots["inbox"])  # left by connections that are gone (kill -9)
            with file_lock(self.ledger + ".lock"):
                used = held_bytes(self.access.roots["inbox"]) + held_bytes(self.access.roots["stored"])
                self._write(used)
        fcntl.flock(self.live_fd, fcntl.LOCK_SH)

    def leave(self) -> None:
        if self.live_fd is not None:
            os.close(self.live_fd)
            self.live_fd = None

    def _read(self) -> int:
        try:
            with open(self.ledger, "rb") as handle:
                return int(handle.read() or b"0")
        except (OSError, ValueError):
            return 0

    def _write(self, used: int) -> None:
        from secumail.system.files import atomic_write

        atomic_write(self.ledger, f"{used}\n", 0o600)

    def charge(self, size: int) -> bool:
        """Take `size` bytes of the quota; False (nothing taken) if that would exceed it."""
        if size <= self.allowance:
            self.allowance -= size
            return True
        from secumail.system.files import file_lock

        need = size - self.allowance
        with file_lock(self.ledger + ".lock"):
            used = self._read()
            free = self.quota - used
            if need > free:
                return False
            grant = min(max(need, self.CHUNK), free)
            self._write(used + grant)
        self.allowance += grant - size
        return True


class Server(paramiko.ServerInterface):
    def __init__(self, data_path: str, pinned: set[str], quota: int = 0) -> None:
        self.data_path = data_path
        self.pinned = pinned
        self.quota = quota
        self.access: Access | None = None
        self.usage: PeerUsage | None = None
        self.temps: set[str] = set()  # inbox temp files this connection made
        self.broken: set[str] = set()  # temp files a write to was refused: never renamed to a final name
        self.last_activity = time.monotonic()

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
            if self.quota:
                self.usage = PeerUsage(self.access, self.quota)
                self.usage.join()
            log.info("peer %s authenticated", node)
            return paramiko.AUTH_SUCCESSFUL
        from secumail.mesh.recovery_key import recovery_public_key

        peers_dir = DataLayout(self.data_path).peer_stores
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
        self.size = 0  # inbox files are created empty (O_EXCL) and only ever appended to

    def read(self, offset: int, length: int) -> Any:
        if self.jail is not None:
            self.jail.touch()
        return super().read(offset, length)

    def write(self, offset: int, data: bytes) -> int:
        if self.jail is None:
            return SFTP_PERMISSION_DENIED
        self.jail.touch()
        if offset != self.size:
            log.warning("peer %s wrote at offset %d of %s (%d bytes long); refused",
                        self.jail.access.node, offset, os.path.basename(self.path), self.size)  # fmt: skip
            return self._broken(SFTP_PERMISSION_DENIED)  # append-only: no holes, no rewriting what is there
        cost = layout.charge(self.size + len(data)) - layout.charge(self.size)
        if not self.jail.charge(cost):
            return self._broken(SFTP_FAILURE)  # quota: the client reports it, nothing already written is touched
        try:
            result = super().write(offset, data)
        except OSError:
            return self._broken(SFTP_FAILURE)
        if result != SFTP_OK:
            return self._broken(result)
        self.size += len(data)
        return result

    def _broken(self, result: int) -> int:
        # A refused write leaves a gap: the file may never be renamed to a final name. A client
        # pipelining its writes can miss the error and ask for the rename anyway (seen with a full disk).
        if self.jail is not None:
            self.jail.server.broken.add(self.path)
        return result


def _inbox_temp(rel: str) -> bool:
    """A temp name the peer may create: `.tmp-*` at the top or in a layout directory."""
    parent, _, base = rel.rpartition("/")
    return layout.TEMP.match(base) is not None and (parent == "" or layout.layout_dir(parent))


class Jail(paramiko.SFTPServerInterface):
    """Maps virtual paths to the connected peer's directories and enforces the rules."""

    def __init__(self, server: Server, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.server = server
        self.access: Access = server.access  # type: ignore[assignment]

    def session_started(self) -> None:
        if self.access.recovery:
            return
        from secumail.mesh.ingest import ingest_all
        from secumail.mesh.scrub import scrub

        # damaged files in the peer's copy go, so its next push sends them again
        scrub(self.access.roots["stored"])
        # then what waits whole in the inbox (the disk was full when it landed) goes in before the
        # peer lists what we hold: it is not sent again, and a verify sees it in the store
        ingest_all(self.access.roots["inbox"], self.access.roots["stored"], self.access.node)

    def touch(self) -> None:
        self.server.last_activity = time.monotonic()

    def _resolve(self, path: str) -> tuple[str, str] | None:
        self.touch()
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

    def _inbox_rel(self, real: str) -> str:
        return os.path.relpath(real, self.access.roots["inbox"]).replace(os.sep, "/")

    def charge(self, size: int) -> bool:
        """Quota over what the peer holds here (inbox + store), shared by its connections."""
        usage = self.server.usage
        return usage is None or usage.charge(size)

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
        if not _inbox_temp(self._inbox_rel(real)):
            return SFTP_PERMISSION_DENIED  # write to a temp name, then rename: a final name is never half-written
        if not self.charge(layout.BLOCK):
            return SFTP_FAILURE
        try:
            os.makedirs(os.path.dirname(real), mode=0o700, exist_ok=True)
            fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        self.server.temps.add(real)
        handle = _Handle(flags, self, real)
        handle.writefile = os.fdopen(fd, "wb")
        return handle

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._resolve(oldpath), self._resolve(newpath)
        if old is None or new is None or old[0] != "inbox" or new[0] != "inbox":
            return SFTP_PERMISSION_DENIED
        rel = self._inbox_rel(new[1])
        if not _inbox_temp(self._inbox_rel(old[1])) or not layout.inbox_file(rel):
            return SFTP_PERMISSION_DENIED  # only names of the repository layout land
        if old[1] in self.server.broken:
            with contextlib.suppress(OSError):
                os.unlink(old[1])
            self.server.temps.discard(old[1])
            return SFTP_FAILURE  # a write to it was refused: incomplete, sent again next time
        if os.path.lexists(os.path.join(self.access.roots["stored"], rel)):
            return SFTP_PERMISSION_DENIED  # landed earlier and moved to the store: never overwritten
        try:
            os.makedirs(os.path.dirname(new[1]), mode=0o700, exist_ok=True)
            os.link(old[1], new[1])  # fails if the final name exists: nothing is ever overwritten
            os.unlink(old[1])
            self.server.temps.discard(old[1])
        except FileExistsError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        from secumail.mesh.ingest import ingest

        ingest(self.access.roots["inbox"], self.access.roots["stored"], rel, self.access.node)
        return SFTP_OK

    def mkdir(self, path: str, attr: Any) -> int:
        where = self._resolve(path)
        if where is None or where[0] != "inbox" or not layout.layout_dir(self._inbox_rel(where[1])):
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


def handle_connection(
    sock: socket.socket, node: NodeKey, data_path: str, pinned: set[str], quota: int = 0
) -> None:
    """Serve one peer connection; `quota` is mesh.peer_quota in bytes (0: none)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = PREAUTH_TIMEOUT
    transport.add_server_key(node.paramiko_key())
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, Jail)
    server = Server(data_path, pinned, quota)
    deadline = threading.Timer(PREAUTH_TIMEOUT, _unless_authenticated, (transport,))
    deadline.daemon = True
    deadline.start()
    try:
        transport.start_server(server=server)
        channel = transport.accept(PREAUTH_TIMEOUT)
        if channel is None:
            return
        while transport.is_active():
            transport.join(1)
            if time.monotonic() - server.last_activity > IDLE_TIMEOUT:
                log.info("peer %s idle for %.0f s; closing", server.access and server.access.node, IDLE_TIMEOUT)
                break
    except (paramiko.SSHException, OSError, EOFError) as exc:
        log.info("connection ended: %s", exc)
    finally:
        deadline.cancel()
        transport.close()
        if server.access is not None and "inbox" in server.access.roots:
            for tmp in server.temps:  # only our own: parallel connections of this peer keep theirs
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            from secumail.mesh.ingest import ingest_all

            ingest_all(server.access.roots["inbox"], server.access.roots["stored"], server.access.node)
        if server.usage is not None:
            server.usage.leave()


def _unless_authenticated(transport: paramiko.Transport) -> None:
    if not transport.is_authenticated():
        log.info("no authentication within %.0f s; closing", PREAUTH_TIMEOUT)
        transport.close()


def drop_temps(inbox: str) -> None:
    """Half-written files of connections that are gone: the object in flight is all that is lost."""
    for dirpath, _dirs, files in os.walk(inbox):
        for name in files:
            if name.startswith(".tmp-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))


def _listeners(addresses: list[str], port: int) -> list[socket.socket]:
    from secumail.mesh.listener import listen_socket

    return [listen_socket(address, port) for address in addresses or [""]]


def _connection_settings(confdir: str | None, fallback: Settings) -> Any:
    """The settings as they are now: pins and the quota change while the service runs."""
    from secumail.config import load_settings
    from secumail.errors import SecumailError

    try:
        return load_settings(confdir)
    except SecumailError as exc:
        log.warning("cannot read the settings again (%s); using those read at start", exc)
        return fallback


def serve(
    settings: Settings,
    listen: list[str] | None = None,
    ready: threading.Event | None = None,
    confdir: str | None = None,
) -> None:
    data_path = settings.main.data_path
    node = load_or_create(data_path)
    addresses = list(settings.mesh.listen) if listen is None else listen
    sockets = _listeners(addresses, settings.mesh.port)
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    log.info("mesh sftp for node %s on %s port %s", node.node_id, ",".join(addresses) or "*", settings.mesh.port)
    if ready is not None:
        ready.set()
    while True:
        for key, _mask in selector.select():
            try:
                conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
            except OSError:
                continue
            now = _connection_settings(confdir, settings)
            threading.Thread(
                target=handle_connection,
                args=(conn, node, data_path, pinned_ids(now), now.mesh.peer_quota << 20),
                daemon=True,
            ).start()


def _preload() -> None:
    """What a connection imports lazily, loaded while the files are surely readable."""
    import secumail.mesh.ingest  # noqa: F401
    import secumail.mesh.recovery_key  # noqa: F401
    import secumail.mesh.scrub  # noqa: F401
    import secumail.mesh.state  # noqa: F401
    import secumail.system.files  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from secumail.config import load_settings

    parser = argparse.ArgumentParser(prog="secumail-mesh-sftpd")
    parser.add_argument("--confdir")
    parser.add_argument("--listen", help="addresses to listen on, comma-separated (default: mesh.listen)")
    parser.add_argument("--fd", type=int, help="serve the one connected socket on this inherited fd, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(args.confdir)
    if args.fd is not None:
        conn = socket.socket(fileno=args.fd)
        node = load_or_create(settings.main.data_path)
        _preload()
        from secumail.mesh import privdrop

        privdrop.drop(settings.main.data_path, settings.mesh.user)
        handle_connection(
            conn, node, settings.main.data_path, pinned_ids(settings), settings.mesh.peer_quota << 20
        )
        return 0
    listen = None if args.listen is None else [a.strip() for a in args.listen.split(",")]
    serve(settings, listen, confdir=args.confdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
