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
import re
import socket
import stat
import time
from typing import Any, Callable

from secumail.errors import SecumailError
from secumail.mesh import state
from secumail.mesh.identity import NodeKey, load_or_create, node_id_of, normalize_node_id

log = logging.getLogger(__name__)
_NAMED = re.compile(r"^[0-9a-f]{64}$")
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


def _walk_remote(sftp: Any, root: str) -> dict[str, int]:
    """rel path -> size of every regular file under remote `root`."""
    out: dict[str, int] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        for attr in sftp.listdir_attr(f"{root}/{rel}" if rel else root):
            name = f"{rel}/{attr.filename}" if rel else attr.filename
            if stat.S_ISDIR(attr.st_mode or 0):
                stack.append(name)
            elif stat.S_ISREG(attr.st_mode or 0) and not attr.filename.startswith("."):
                out[name] = attr.st_size or 0
    return out


def _walk_local(root: str) -> dict[str, int]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") or name == "lock":
                continue
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = os.path.getsize(path)
    return out


def _rank(rel: str) -> int:
    top = rel.split("/", 1)[0] if "/" in rel else ""
    return ORDER.index(top) if top in ORDER else len(ORDER)


def _get(sftp: Any, remote: str, size: int, local: str, throttle: Throttle | None, requests: int | None) -> str:
    """Copy one file with pipelined reads, hashing it on the way (no second read); returns its SHA-256."""
    digest = hashlib.sha256()
    with sftp.open(remote, "rb") as rf, open(local, "wb") as lf:
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
    mirror_deletes: bool = True,
    throttle: Throttle | None = None,
    progress: Progress | None = None,
    damaged: list[str] | None = None,
) -> dict[str, int]:
    """Copy what we lack from remote_root into local_root; storage-named files are checked.

    A file that does not match its name is refused, unless `damaged` is given (a copy
    fetched for restore or verify): then it is kept under its name and listed there,
    so verify names the broken objects in it and restore heals it from another copy.
    """
    remote = _walk_remote(sftp, remote_root)
    local = _walk_local(local_root)
    todo = sorted(
        (rel for rel, size in remote.items() if local.get(rel) != size), key=lambda r: (_rank(r), r)
    )
    copied = nbytes = 0
    limited = throttle is not None and throttle.rate
    for rel in todo:
        dest = os.path.join(local_root, rel)
        tmp = os.path.join(os.path.dirname(dest), ".tmp-" + os.path.basename(dest))
        try:
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            digest = _get(  # pipelined reads; a few requests in flight only when a limit is set
                sftp, f"{remote_root}/{rel}", remote[rel], tmp, throttle if limited else None, 4 if limited else None
            )
            if _NAMED.match(os.path.basename(rel)) and digest != os.path.basename(rel):
                if damaged is None:
                    raise PeerError(f"{rel} from the peer does not match its name (corrupt copy on the peer)")
                damaged.append(rel)
            os.replace(tmp, dest)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _local_full(exc, local_root) from None
            raise
        copied += 1
        nbytes += remote[rel]
        if progress is not None:
            progress({"phase": "pull", "files": copied, "bytes": nbytes, "todo": len(todo)})
    deleted = 0
    if mirror_deletes:  # after everything new landed: pruned packs and superseded indexes
        for rel in sorted(set(local) - set(remote), key=lambda r: -_rank(r)):
            os.unlink(os.path.join(local_root, rel))
            deleted += 1
    return {"files": copied, "bytes": nbytes, "deleted": deleted}


MUTABLE = ("recovery.pub",)  # and keys/<slot>: replaced in place by their owner


def _is_mutable(rel: str) -> bool:
    return rel in MUTABLE or rel.startswith("keys/")


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def push_tree(
    sftp: Any,
    local_root: str,
    remote_root: str,
    stored_root: str | None = None,
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
    for root in (remote_root, stored_root):
        if root is None:
            continue
        try:
            remote.update(_walk_remote(sftp, root))
        except OSError:
            continue  # nothing there yet
    todo = []
    for rel in sorted(local, key=lambda r: (_rank(r), r)):
        if _is_mutable(rel):
            name = f"{rel}.{_sha256_file(os.path.join(local_root, rel))}"
            if name in remote or (stored_root and _same_remote(sftp, f"{stored_root}/{rel}", local_root, rel)):
                continue
            todo.append((rel, name))
        elif (_NAMED.match(os.path.basename(rel)) or rel == "config") and rel not in remote:
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


def _peers(settings: Any, only: str | None) -> list[tuple[str, str, int]]:
    """(node id, host, port) of pinned peers; a peer pinned without an address uses the one
    discovery last saw for its id. Discovered ids that are not pinned are never returned."""
    from secumail.mesh.discovery import load_discovered

    found = load_discovered(settings.main.data_path)
    peers = []
    for p in settings.peers:
        try:
            peer_id = normalize_node_id(p.node_id)
        except SecumailError:
            continue
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
    settings: Any,
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
                local = os.path.join(data_path, "backup", "peers", peer_id)
                os.makedirs(local, mode=0o700, exist_ok=True)
                row.update(pull_tree(sftp, "/repo", local, throttle=throttle, progress=progress))
            else:
                own = os.path.join(data_path, "backup", "repo")
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


def fetch_copy(
    sftp: Any,
    dest: str,
    throttle: Throttle | None = None,
    progress: Progress | None = None,
    damaged: list[str] | None = None,
) -> dict[str, int]:
    """Pull the copy of our repository a peer holds (its /stored) into `dest` (see pull_tree: damaged)."""
    try:
        sftp.stat("/stored/config")
    except OSError:
        raise PeerError("the peer holds no copy of this node's backups") from None
    return pull_tree(sftp, "/stored", dest, throttle=throttle, progress=progress, damaged=damaged)
