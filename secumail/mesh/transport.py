"""Client side of peer sync: connect to a pinned peer, pull its repository, push ours.

Resumable by construction: files are immutable and named by their SHA-256, each
lands under a temp name and is renamed when complete and checked, so a cut
link or a killed process loses at most the file in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import stat
import time
from typing import Any

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


def _check_name(rel: str, path: str) -> None:
    name = os.path.basename(rel)
    if _NAMED.match(name):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != name:
            raise PeerError(f"{rel} from the peer does not match its name (corrupt copy on the peer)")


def pull_tree(sftp: Any, remote_root: str, local_root: str, mirror_deletes: bool = True) -> dict[str, int]:
    """Copy what we lack from remote_root into local_root; storage-named files are checked."""
    remote = _walk_remote(sftp, remote_root)
    local = _walk_local(local_root)
    todo = sorted(
        (rel for rel, size in remote.items() if local.get(rel) != size), key=lambda r: (_rank(r), r)
    )
    copied = nbytes = 0
    for rel in todo:
        dest = os.path.join(local_root, rel)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        tmp = os.path.join(os.path.dirname(dest), ".tmp-" + os.path.basename(dest))
        try:
            sftp.get(f"{remote_root}/{rel}", tmp, prefetch=True)  # pipelined reads
            _check_name(rel, tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        copied += 1
        nbytes += remote[rel]
    deleted = 0
    if mirror_deletes:  # after everything new landed: pruned packs and superseded indexes
        for rel in sorted(set(local) - set(remote), key=lambda r: -_rank(r)):
            os.unlink(os.path.join(local_root, rel))
            deleted += 1
    return {"files": copied, "bytes": nbytes, "deleted": deleted}


def push_tree(sftp: Any, local_root: str, remote_root: str) -> dict[str, int]:
    """Append what the peer's inbox lacks; names already there are never rewritten."""
    local = _walk_local(local_root)
    try:
        remote = _walk_remote(sftp, remote_root)
    except OSError:
        remote = {}  # an inbox cannot be listed by design: rely on refused renames instead
    copied = nbytes = skipped = 0
    for rel in sorted((r for r in local if r not in remote), key=lambda r: (_rank(r), r)):
        if not _NAMED.match(os.path.basename(rel)) and rel != "config":
            continue  # mutable files (key slots, recovery.pub) travel by pull only
        parent = os.path.dirname(rel)
        if parent:
            with contextlib.suppress(OSError):
                sftp.mkdir(f"{remote_root}/{parent}")
        tmp = f"{remote_root}/{parent + '/' if parent else ''}.tmp-{os.urandom(6).hex()}"
        try:
            sftp.put(os.path.join(local_root, rel), tmp, confirm=False)
            sftp.rename(tmp, f"{remote_root}/{rel}")
        except PermissionError:
            skipped += 1  # already landed before a cut: not sent again next time either
            continue
        except OSError as exc:
            raise PeerError(f"peer refused {rel}: {exc} (inbox quota reached or its disk is full?)") from None
        copied += 1
        nbytes += local[rel]
    return {"files": copied, "bytes": nbytes, "already": skipped}


def _peers(settings: Any, only: str | None) -> list[Any]:
    peers = [p for p in settings.peers if p.address]
    if only:
        wanted = normalize_node_id(only)
        peers = [p for p in peers if normalize_node_id(p.node_id) == wanted]
        if not peers:
            raise PeerError(f"{wanted} is not a pinned peer with an address (see 'mailctl mesh peers')")
    return peers


def sync(settings: Any, direction: str, only: str | None = None) -> list[dict[str, Any]]:
    data_path = settings.main.data_path
    node = load_or_create(data_path)
    results = []
    for peer in _peers(settings, only):
        peer_id = normalize_node_id(peer.node_id)
        started = time.monotonic()
        row: dict[str, Any] = {"node_id": peer_id, "address": f"{peer.address}:{peer.port}"}
        try:
            sftp = connect(peer.address, peer.port, node, peer_id)
        except PeerError as exc:
            state.update(data_path, peer_id, up=False)
            row.update(result="error", error=str(exc))
            results.append(row)
            continue
        try:
            state.update(data_path, peer_id, up=True, last_seen=time.time())
            if direction == "pull":
                local = os.path.join(data_path, "backup", "peers", peer_id)
                os.makedirs(local, mode=0o700, exist_ok=True)
                row.update(pull_tree(sftp, "/repo", local))
            else:
                row.update(push_tree(sftp, os.path.join(data_path, "backup", "repo"), "/inbox"))
            row["result"] = "ok"
            row["seconds"] = round(time.monotonic() - started, 3)
            state.update(data_path, peer_id, last_sync=time.time())
        except (OSError, PeerError) as exc:
            row.update(result="error", error=str(exc))
        finally:
            sftp.get_channel().get_transport().close()
        results.append(row)
    if not results:
        raise PeerError(
            "no pinned peer with an address: add one with 'mailctl mesh add-peer NODE_ID HOST[:PORT]'"
        )
    errors = [r for r in results if r["result"] != "ok"]
    if errors and len(errors) == len(results):
        raise PeerError(errors[0]["error"])
    return results
