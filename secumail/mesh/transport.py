"""Client side of peer sync: connect to a pinned peer, pull its repository, push ours.

Resumable by construction: files are immutable and named by their SHA-256, each
lands under a temp name and is renamed when complete and checked, so a cut
link or a killed process loses at most the file in flight.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import stat
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

from secumail.config.layout import DataLayout
from secumail.errors import SecumailError
from secumail.mesh import heads, layout, scrub, state
from secumail.mesh.identity import NodeKey, load_or_create, node_id_of, normalize_node_id

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)
ORDER = ("data", "index", "snapshots", "keys", "")  # packs first, so every copy stays a valid repository


class PeerError(SecumailError):
    pass


def connect(host: str, port: int, node: NodeKey, expected: str | None, timeout: float = 10) -> Any:
    """An SFTP client to a peer whose host key must hash to `expected` (None: any, for recovery)."""
    import paramiko

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise PeerError(f"cannot reach peer at {host}:{port}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        server_key = transport.get_remote_server_key()
        got = (
            node_id_of(server_key.asbytes()[-32:])
            if server_key.get_name() == "ssh-ed25519"
            else "(not ed25519)"
        )
        if expected is not None and got != expected:
            raise PeerError(
                f"{host}:{port} presents the key of node {got}, not the pinned {expected}; not syncing"
            )
        transport.auth_publickey(node.node_id, node.paramiko_key())
        client = paramiko.SFTPClient.from_transport(transport)
    except paramiko.AuthenticationException:
        transport.close()
        raise PeerError(f"peer at {host}:{port} refused our key (has it pinned {node.node_id}?)") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        raise PeerError(f"SSH with {host}:{port} failed: {exc}") from None
    except PeerError:
        transport.close()
        raise
    client.peer_id = got
    return client


class Limits:
    """Caps of one pull: bytes (each file at least layout.BLOCK), files; None: no byte cap."""

    MAX_FILES = 1 << 20  # even without a byte cap, a listing is never held without bound

    def __init__(self, max_bytes: int | None = None, max_files: int = MAX_FILES) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files

    @classmethod
    def quota(cls, settings: Settings) -> Limits:
        """mesh.peer_quota: what we hold for one peer, pushed or pulled."""
        return cls(settings.mesh.peer_quota << 20 or None)

    @classmethod
    def free_space(cls, path: str) -> Limits:
        """No more than the disk under `path` can take (fetching our own copy back)."""
        st = os.statvfs(path)
        return cls(st.f_bavail * st.f_frsize)


def _walk_remote(
    sftp: Any,
    root: str,
    limits: Limits | None = None,
    *,
    strict: bool = True,
    files: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    """rel path -> size of every file in the repository layout under remote `root`.

    strict: a name outside the layout, an unsafe name, a symlink or anything but a
    regular file or layout directory is refused (PeerError, one line) before
    anything is written; otherwise such entries are skipped (push: names only
    decide what is already there). Stops as soon as the listing exceeds `limits`.
    """
    limits = limits or Limits()
    wanted = files or layout.repo_file
    out: dict[str, int] = {}
    charged = 0
    stack = [""]
    while stack:
        rel = stack.pop()
        # one READDIR at a time: read-aheads desynchronise paramiko's reply queue (paramiko #1171)
        for attr in sftp.listdir_iter(f"{root}/{rel}" if rel else root, read_aheads=1):
            name, mode = attr.filename, attr.st_mode or 0
            path = f"{rel}/{name}" if rel else name
            if layout.unsafe(name) or path.count("/") >= layout.MAX_DEPTH:
                problem = f"an unsafe name {layout.shown(name)} in {root}/{rel}"
            elif name.startswith("."):
                continue  # temp files and the peer's own bookkeeping
            elif stat.S_ISDIR(mode) and layout.layout_dir(path):
                stack.append(path)
                continue
            elif stat.S_ISREG(mode) and wanted(path):
                size = attr.st_size or 0
                if layout.storage_named(path) or size <= layout.MUTABLE_MAX:
                    out[path] = size
                    charged += layout.charge(size)
                    if len(out) > limits.max_files or charged > (limits.max_bytes or charged):
                        raise PeerError(
                            f"the copy at {root} is larger than this node holds for a peer (more than "
                            f"{len(out) - 1} files or {_mib(limits.max_bytes)} MiB, mesh.peer_quota); nothing pulled"
                        )
                    continue
                problem = f"{path} of {size} bytes (at most {layout.MUTABLE_MAX})"
            else:
                kind = "a symlink" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else (
                    "not a regular file" if not stat.S_ISREG(mode) else "")
                problem = f"{layout.shown(path)} in {root}, {kind or 'outside the repository layout'}"
            if strict:
                raise PeerError(f"the peer lists {problem} (docs/backup-format.md 2); nothing pulled")
    return out


def _mib(nbytes: int | None) -> str:
    return "unlimited" if nbytes is None else str(nbytes >> 20)


def _walk_local(root: str) -> dict[str, int]:
    """rel path -> size of the regular files in the layout under a local copy (symlinks are not files)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") or name == "lock":
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                out[os.path.relpath(path, root)] = st.st_size
    return out


def _rank(rel: str) -> int:
    top = rel.split("/", 1)[0] if "/" in rel else ""
    return ORDER.index(top) if top in ORDER else len(ORDER)


def _open_dir(root_fd: int, parts: list[str]) -> int:
    """A descriptor of root/parts..., made 0700 where missing; a symlink on the way is refused."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/".join(parts)
                    raise PeerError(f"{where} in our copy is not a plain directory; nothing written") from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _inside(root: str, rel: str) -> str:
    """The destination of `rel`, which must resolve to a place under `root`."""
    real_root = os.path.realpath(root)
    dest = os.path.realpath(os.path.join(real_root, rel))
    if os.path.commonpath([real_root, dest]) != real_root or dest == real_root:
        raise PeerError(f"{layout.shown(rel)} would land outside {root}; nothing written")
    return dest


def _get(
    sftp: Any, remote: str, size: int, *, dir_fd: int, tmp: str, throttle: Throttle | None, requests: int | None
) -> str:
    """Copy one file into a new temp file (O_EXCL|O_NOFOLLOW) with pipelined reads, reading exactly
    the `size` the peer listed and hashing on the way (no second read); returns its SHA-256."""
    digest = hashlib.sha256()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    with sftp.open(remote, "rb") as rf, os.fdopen(fd, "wb") as lf:
        rf.prefetch(size, max_concurrent_requests=requests)
        done = 0
        while done < size:
            block = rf.read(min(64 << 10 if throttle else 1 << 20, size - done))  # big: fewer round trips
            if not block:
                raise PeerError(f"{remote}: the peer sent {done} of {size} bytes")
            lf.write(block)
            digest.update(block)
            done += len(block)
            if throttle is not None:
                throttle.account(len(block))
    return digest.hexdigest()


def _same_local(dir_fd: int, a: str, b: str) -> bool:
    try:
        fa = os.open(a, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        fb = os.open(b, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    with os.fdopen(fa, "rb") as ha, os.fdopen(fb, "rb") as hb:
        return ha.read(layout.MUTABLE_MAX + 1) == hb.read(layout.MUTABLE_MAX + 1)


class Throttle:
    """Sleep so that bytes moved stay under `kib_per_s` (0: no limit); used as a paramiko callback."""

    def __init__(self, kib_per_s: int = 0) -> None:
        self.rate = kib_per_s * 1024
        self.moved = 0
        self.started = time.monotonic()

    def account(self, nbytes: int) -> None:
        if not self.rate:
            return
        self.moved += nbytes
        ahead = self.moved / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)

    def callback(self) -> Callable[[int, int], None]:
        last = [0]

        def seen(done: int, _total: int) -> None:
            self.account(done - last[0])
            last[0] = done

        return seen


Progress = Callable[[dict[str, Any]], None]


def _local_full(exc: OSError, local_root: str) -> PeerError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PeerError(f"no space left on this node in {local_root}: free space, then sync again")
    return PeerError(f"cannot write the copy in {local_root}: {exc.strerror or exc}")  # pragma: no cover


def pull_tree(
    sftp: Any,
    remote_root: str,
    local_root: str,
    *,
    mirror_deletes: bool | Callable[[set[str]], bool] = True,
    throttle: Throttle | None = None,
    progress: Progress | None = None,
    damaged: list[str] | None = None,
    limits: Limits | None = None,
) -> dict[str, int]:
    """Copy what we lack from remote_root into local_root, then delete what it no longer lists
    (`mirror_deletes`, or when that function of the remote's names says so, after the copy).

    Only names of the repository layout are written, each through a fresh temp file
    in a directory reached without following symlinks, then renamed; storage-named
    files must hash to their name as they arrive, and local ones that no longer do
    (damaged) are removed first so they are fetched again. `limits` caps the copy
    (mesh.peer_quota for a peer's repository).

    A file that does not match its name is refused, unless `damaged` is given (a copy
    fetched for restore or verify): then it is kept under its name and listed there,
    so verify names the broken objects in it and restore heals it from another copy.
    """
    with _pulling(local_root):
        return _pull(
            sftp, remote_root, local_root, mirror_deletes=mirror_deletes, throttle=throttle,
            progress=progress, damaged=damaged, limits=limits,
        )


@contextlib.contextmanager
def _pulling(local_root: str) -> Iterator[None]:
    """One pull into a copy at a time; temp files of a pull that was killed are deleted."""
    import fcntl

    fd = os.open(os.path.join(local_root, ".pull.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PeerError(f"another sync is already pulling into {local_root}") from None
        for dirpath, dirs, files in os.walk(local_root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith(".tmp-") and not name.startswith(".tmp-ingest-"):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(dirpath, name))
        yield
    finally:
        os.close(fd)


def _pull(
    sftp: Any,
    remote_root: str,
    local_root: str,
    *,
    mirror_deletes: bool | Callable[[set[str]], bool],
    throttle: Throttle | None,
    progress: Progress | None,
    damaged: list[str] | None,
    limits: Limits | None,
) -> dict[str, int]:
    remote = _walk_remote(sftp, remote_root, limits)
    scrub.scrub(local_root)
    local = _walk_local(local_root)
    mutable = sorted(rel for rel in remote if not layout.storage_named(rel))
    todo = sorted(
        (rel for rel, size in remote.items() if layout.storage_named(rel) and local.get(rel) != size),
        key=lambda r: (_rank(r), r),
    ) + mutable  # config, key slots, recovery.pub: small, compared by content
    copied = nbytes = 0
    limited = throttle is not None and throttle.rate
    root_fd = os.open(local_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rel in todo:
            _inside(local_root, rel)
            *parts, base = rel.split("/")
            dir_fd = _open_dir(root_fd, parts)
            tmp = f".tmp-{os.urandom(6).hex()}"
            try:
                digest = _get(  # pipelined reads; a few requests in flight only when a limit is set
                    sftp, f"{remote_root}/{rel}", remote[rel], dir_fd=dir_fd, tmp=tmp,
                    throttle=throttle if limited else None, requests=4 if limited else None,
                )  # fmt: skip
                if layout.storage_named(rel) and digest != base:
                    if damaged is None:
                        raise PeerError(f"{rel} from the peer does not match its name (corrupt copy on the peer)")
                    damaged.append(rel)
                if rel in mutable and _same_local(dir_fd, tmp, base):
                    os.unlink(tmp, dir_fd=dir_fd)
                    continue
                os.replace(tmp, base, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException as exc:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _local_full(exc, local_root) from None
                raise
            finally:
                os.close(dir_fd)
            copied += 1
            nbytes += remote[rel]
            if progress is not None:
                progress({"phase": "pull", "files": copied, "bytes": nbytes, "todo": len(todo)})
    finally:
        os.close(root_fd)
    deleted = 0
    if callable(mirror_deletes):
        mirror_deletes = mirror_deletes(set(remote))
    if mirror_deletes:  # after everything new landed: pruned packs and superseded indexes
        for rel in sorted(set(local) - set(remote), key=lambda r: -_rank(r)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(local_root, rel))
            deleted += 1
    return {"files": copied, "bytes": nbytes, "deleted": deleted}


MUTABLE = ("recovery.pub",)  # and keys/<slot>: replaced in place by their owner


def _is_mutable(rel: str) -> bool:
    return rel in MUTABLE or rel.startswith("keys/")


def push_tree(
    sftp: Any,
    local_root: str,
    remote_root: str,
    stored_root: str | None = None,
    *,
    throttle: Throttle | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Append what the peer lacks to its inbox; names already landed are never sent again.

    The peer moves each checked file from the inbox into its store for us, so what
    it holds is the union of `remote_root` (inbox) and `stored_root` (its copy).
    Mutable files (key slots, recovery.pub) travel as `<rel>.<sha256>` when they changed.
    """
    local = _walk_local(local_root)
    remote: dict[str, int] = {}
    for root, names in ((remote_root, layout.inbox_file), (stored_root, layout.repo_file)):
        if root is None:
            continue
        try:  # names only decide what is there already: entries outside the layout are skipped
            remote.update(_walk_remote(sftp, root, strict=False, files=names))
        except OSError:
            continue  # nothing there yet
    todo = []
    for rel in sorted(local, key=lambda r: (_rank(r), r)):
        if _is_mutable(rel):
            name = f"{rel}.{scrub.sha256_file(os.path.join(local_root, rel))}"
            if name in remote or (stored_root and _same_remote(sftp, f"{stored_root}/{rel}", local_root, rel)):
                continue
            todo.append((rel, name))
        elif (layout.storage_named(rel) or rel == "config") and rel not in remote:
            todo.append((rel, rel))
    copied = nbytes = skipped = 0
    limited = throttle is not None and throttle.rate
    for rel, name in todo:
        parent = os.path.dirname(name)
        if parent:
            with contextlib.suppress(OSError):
                sftp.mkdir(f"{remote_root}/{parent}")
        tmp = f"{remote_root}/{parent + '/' if parent else ''}.tmp-{os.urandom(6).hex()}"
        try:
            sftp.put(
                os.path.join(local_root, rel), tmp, callback=throttle.callback() if limited else None, confirm=False
            )
            sftp.rename(tmp, f"{remote_root}/{name}")
        except PermissionError:
            skipped += 1  # already landed before a cut: not sent again next time either
            continue
        except OSError:
            raise PeerError(
                f"the peer could not store {rel}: its disk is full or our quota there is used up "
                "(nothing that landed is lost; free space there and push again)"
            ) from None
        copied += 1
        nbytes += local[rel]
        if progress is not None:
            progress({"phase": "push", "files": copied, "bytes": nbytes, "todo": len(todo)})
    return {"files": copied, "bytes": nbytes, "already": skipped}


def _same_remote(sftp: Any, remote: str, local_root: str, rel: str) -> bool:
    try:
        with sftp.open(remote, "r") as handle:
            theirs = handle.read()
    except OSError:
        return False
    with open(os.path.join(local_root, rel), "rb") as handle:
        return handle.read() == theirs


def _peers(settings: Settings, only: str | None) -> list[tuple[str, str, int]]:
    """(node id, host, port) of pinned peers; a peer pinned without an address uses the one
    discovery last saw for its id. Discovered ids that are not pinned are never returned."""
    from secumail.mesh.discovery import load_discovered

    found = load_discovered(settings.main.data_path)
    peers = []
    for p in settings.pinned_peers:
        peer_id = p.node_id
        if p.address:
            peers.append((peer_id, p.address, p.port))
        elif peer_id in found and found[peer_id].get("address"):
            peers.append((peer_id, found[peer_id]["address"], int(found[peer_id].get("port") or p.port)))
    if only:
        wanted = normalize_node_id(only)
        peers = [p for p in peers if p[0] == wanted]
        if not peers:
            raise PeerError(
                f"{wanted} is not a pinned peer with a known address (see 'mailctl mesh peers' and "
                "'mailctl mesh discovered')"
            )
    return peers


def sync(
    settings: Settings,
    direction: str,
    only: str | None = None,
    bwlimit: int | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Pull each pinned peer's repository into our store for it, or push ours to its inbox."""
    data_path = settings.main.data_path
    node = load_or_create(data_path)
    results = []
    for peer_id, host, port in _peers(settings, only):
        started = time.monotonic()
        row: dict[str, Any] = {"node_id": peer_id, "address": f"{host}:{port}", "direction": direction}
        try:
            sftp = connect(host, port, node, peer_id)
        except PeerError as exc:
            state.update(data_path, peer_id, up=False)
            row.update(result="error", error=str(exc))
            results.append(row)
            continue
        throttle = Throttle(settings.mesh.bwlimit if bwlimit is None else bwlimit)
        try:
            state.update(data_path, peer_id, up=True, last_seen=time.time())
            if direction == "pull":
                row.update(_pull_peer(settings, sftp, peer_id, throttle=throttle, progress=progress))
            else:
                own = DataLayout(data_path).repository
                row.update(push_tree(sftp, own, "/inbox", "/stored", throttle=throttle, progress=progress))
            row["result"] = "ok"
            row["seconds"] = round(time.monotonic() - started, 3)
            state.update(data_path, peer_id, last_sync=time.time())
        except (OSError, PeerError, EOFError) as exc:
            text = str(exc) if isinstance(exc, PeerError) else f"{peer_id} at {host}:{port}: {exc}"
            row.update(result="error", error=text)
        finally:
            sftp.get_channel().get_transport().close()
        results.append(row)
    if not results:
        raise PeerError(
            "no pinned peer with a known address: add one with 'mailctl mesh add-peer NODE_ID HOST[:PORT]'"
        )
    errors = [r for r in results if r["result"] != "ok"]
    if errors and len(errors) == len(results):
        raise PeerError(errors[0]["error"])
    return results


def _pull_peer(settings: Settings, sftp: Any, peer_id: str, *, throttle: Throttle,
               progress: Progress | None) -> dict[str, Any]:  # fmt: skip
    """A peer's repository into our copy of it. Its deletions are followed only when it serves a head
    at least as new as we have seen (heads.follows_deletions); else the row carries the warning."""
    data_path = settings.main.data_path
    local = DataLayout(data_path).peer_store(peer_id)
    os.makedirs(local, mode=0o700, exist_ok=True)
    warnings: list[str] = []

    def follow(served: set[str]) -> bool:
        warning = heads.follows_deletions(data_path, peer_id, local, served)
        if warning:
            warnings.append(warning)
        return warning is None

    row: dict[str, Any] = dict(pull_tree(sftp, "/repo", local, mirror_deletes=follow, throttle=throttle,
                                         progress=progress, limits=Limits.quota(settings)))  # fmt: skip
    if warnings:
        row["warning"] = warnings[0]
    return row


def fetch_copy(
    sftp: Any,
    dest: str,
    throttle: Throttle | None = None,
    progress: Progress | None = None,
    damaged: list[str] | None = None,
    *,
    limits: Limits | None = None,
) -> dict[str, int]:
    """Pull the copy of our repository a peer holds (its /stored) into `dest`: the same checks as
    a pull (see pull_tree: damaged), capped by `limits` (default: the free space under `dest`)."""
    try:
        sftp.stat("/stored/config")
    except OSError:
        raise PeerError("the peer holds no copy of this node's backups") from None
    return pull_tree(
        sftp, "/stored", dest, throttle=throttle, progress=progress, damaged=damaged,
        limits=limits or Limits.free_space(dest),
    )
