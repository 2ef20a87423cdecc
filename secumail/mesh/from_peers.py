"""Getting our backups back from peers: `restore --from`, `verify --from` and `recover`.

A peer's copy is untrusted input. It is fetched into a temp directory; a file
that does not match its storage name, or a pack the index names but the copy
lacks, is fetched again from another copy (another peer, or our own repository)
before anything is restored (heal.py); what no copy has intact is named, file by
file, instead of stopping the restore at the first bad object.

`recover` is disaster recovery on a fresh router: it has a new node key nobody
pinned, so it authenticates with the key derived from the recovery key, which a
peer accepts read-only for the one copy whose signed recovery.pub names it
(sftpd.Server). The user names each peer by node id (`NODE_ID@HOST[:PORT]`), so
the peer's host key is pinned before a byte is fetched. The newest snapshot is
restored into a staging directory, and swapped into data_path (and the UCI
config) only once the copy's node id, its recovery.pub, the snapshot's signature
and the restored node key all name the same node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secumail.config.layout import DataLayout
from secumail.errors import BackupFormatError, InputError, SecumailError
from secumail.mesh import heads, keys
from secumail.mesh.heal import LocalSource, PeerSource, Source, heal_copy
from secumail.mesh.repo import Repository, read_config
from secumail.mesh.transport import PeerError, Progress, Throttle, connect, fetch_copy

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def open_with_secret(path: str, secret: bytes) -> Repository:
    read_config(path)  # the version is checked before any key is tried
    keydir = os.path.join(path, "keys")
    slots = []
    for name in sorted(os.listdir(keydir)) if os.path.isdir(keydir) else []:
        if name.startswith("."):
            continue
        with open(os.path.join(keydir, name), "rb") as handle:
            slots.append((name, handle.read(64 << 10)))  # a slot is ~400 bytes
    return Repository(path, keys.open_slots(slots, secret))


def _close(sftp: Any) -> None:
    with contextlib.suppress(Exception):
        sftp.get_channel().get_transport().close()


@dataclass
class Fetched:
    """What fetching a copy found: where from, what was healed, what is lost, a rollback warning."""

    source: str
    files: int = 0
    bytes: int = 0
    healed: dict[str, str] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)
    warning: str | None = None

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fetched_files": self.files, "fetched_bytes": self.bytes}
        if self.healed:
            out["healed"] = self.healed
        if self.damaged:
            out["damaged"] = self.damaged
        if self.warning:
            out["warning"] = self.warning
        return out


def parse_peer(text: str, default_port: int) -> tuple[str, str, int]:
    """NODE_ID@HOST[:PORT] -> (node id, host, port); the id is required (the host key is pinned to it)."""
    from secumail.mesh.identity import normalize_node_id, parse_address

    ident, at, address = text.rpartition("@")
    if not at or not ident:
        raise InputError(
            f"{text!r}: give the peer's node id too, as NODE_ID@HOST[:PORT] ('mailctl mesh key export' "
            "printed it; 'mailctl mesh id' on the peer shows it), so its host key is checked"
        )
    node_id = normalize_node_id(ident)
    host, port = parse_address(address, default_port)
    if not host:
        raise InputError(f"{text!r}: no address after the @")
    return node_id, host, port


def _fetch(
    sftp: Any, dest: str, settings: Settings, progress: Progress | None, fetched: Fetched
) -> None:
    try:
        moved = fetch_copy(sftp, dest, Throttle(settings.mesh.bwlimit), progress, damaged=fetched.damaged)
    finally:
        _close(sftp)
    fetched.files, fetched.bytes = moved["files"], moved["bytes"]


def _heal(repo_path: str, sources: list[Source], fetched: Fetched) -> None:
    healed, left = heal_copy(repo_path, fetched.damaged, sources)
    fetched.healed, fetched.damaged = healed, left


@contextlib.contextmanager
def fetched_copy(
    settings: Settings,
    node_id: str,
    secret: bytes | None = None,
    progress: Progress | None = None,
    *,
    heal: bool = True,
) -> Iterator[tuple[Repository, Fetched]]:
    """Our repository as pinned peer `node_id` holds it, fetched into a temp dir and opened.

    With `heal`, damaged or missing files are fetched again from our own repository
    or another pinned peer; without it (verify) the copy is opened as the peer holds it.
    """
    from secumail.mesh.identity import load_or_create, normalize_node_id
    from secumail.mesh.transport import _peers

    data_path = settings.main.data_path
    (peer_id, host, port), *_ = _peers(settings, normalize_node_id(node_id))
    node = load_or_create(data_path)
    layout = DataLayout(data_path)
    base = layout.backup
    os.makedirs(base, mode=0o700, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".fetch-", dir=base)
    fetched = Fetched(source=peer_id)
    sources: list[Source] = []
    try:
        _fetch(connect(host, port, node, peer_id), tmp, settings, progress, fetched)
        if heal:
            own = layout.repository
            if os.path.isfile(os.path.join(own, "config")):
                sources.append(LocalSource(own, "this node's repository"))
            sources += [
                PeerSource(other, h, p, node)
                for other, h, p in _peers(settings, None)
                if other != peer_id
            ]
            _heal(tmp, sources, fetched)
        if secret is not None:
            repo = open_with_secret(tmp, secret)
        elif os.path.exists(layout.master_key):
            repo = Repository(tmp, keys.load_or_create_master(data_path))
        else:
            raise InputError("no local master key: give the recovery key with --recovery-key-stdin")
        with repo:
            if heal:  # verify reads the copy as the peer holds it and names what is wrong itself
                _complete(repo, node.node_id, sources, fetched)
            fetched.warning = heads.check(
                data_path, node.node_id, tmp, f"peer {peer_id}", repo.list("snapshots")
            )
            yield repo, fetched
    finally:
        for source in sources:
            source.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(repo: Repository, node_id: str, sources: list[Source], fetched: Fetched) -> None:
    """Load the index; fetch packs it names that the copy lacks, and the snapshot its head names."""
    repo.sync_cache()
    repo.recover_orphans()  # packs whose damaged index was dropped are indexed from their headers
    wanted = [f"data/{p[:2]}/{p}" for p in sorted(repo.cache.packs() - set(repo.list("data")))]
    head = heads.latest(repo.path, node_id)
    if head is not None and head["snapshot"] not in repo.list("snapshots"):
        wanted.append(f"snapshots/{head['snapshot']}")
    if wanted and sources:
        healed, left = heal_copy(repo.path, wanted, sources)
        fetched.healed.update(healed)
        wanted = left
    fetched.damaged += [f"{rel} (missing)" for rel in wanted if rel not in fetched.damaged]


def recover(
    settings: Settings, confdir: str, peers: list[str], secret: bytes, progress: Progress | None = None
) -> dict[str, Any]:
    """Bring this (fresh) node back from the copies the peers hold (the first is fetched, the rest heal it)."""
    from secumail.mesh.recovery_key import recovery_public_key

    data_path = settings.main.data_path
    layout = DataLayout(data_path)
    own = layout.repository
    if os.path.exists(os.path.join(own, "config")):
        raise InputError(
            f"{own} already holds a backup repository: recover is for a fresh node "
            "(to restore on this node use 'mailctl mesh restore')"
        )
    if not peers:
        raise InputError("give at least one peer: mailctl mesh recover NODE_ID@HOST[:PORT] ...")
    specs = [parse_peer(text, settings.mesh.port) for text in peers]  # every id checked before any transfer
    auth = keys.recovery_auth_key(secret)
    sftp, primary, newest = _newest_peer(specs, auth)
    base = layout.backup
    os.makedirs(base, mode=0o700, exist_ok=True)
    for name in os.listdir(base):  # a recover killed earlier (this node has no repository: nothing else runs)
        if name.startswith(".recover-"):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=".recover-", dir=base)
    copy = os.path.join(staging, "repo")
    fetched = Fetched(source=f"{primary[0]} at {primary[1]}:{primary[2]}")
    sources: list[Source] = [PeerSource(i, h, p, auth) for i, h, p in specs if (i, h, p) != primary]
    try:
        os.mkdir(copy, 0o700)
        _fetch(sftp, copy, settings, progress, fetched)
        node_id = read_config(copy).get("node_id")
        if not isinstance(node_id, str) or recovery_public_key(copy, node_id) != auth.public_raw:
            raise BackupFormatError(
                f"the copy on {fetched.source} is not a repository whose owner signed this recovery key; "
                "nothing was changed"
            )
        _heal(copy, sources, fetched)
        with open_with_secret(copy, secret) as repo:
            _complete(repo, node_id, sources, fetched)
            seen_warning = heads.check(  # always: it also remembers the head served
                data_path, node_id, copy, f"peer {primary[0]}", repo.list("snapshots")
            )
            fetched.warning = newest or seen_warning
            name, body = repo.find_snapshot(None)  # decoding checks its signature and key
            if body.get("node_id") != node_id:
                raise BackupFormatError(
                    f"snapshot {name[:12]} was signed by node {body.get('node_id')}, not by {node_id} "
                    "whose repository this is; nothing was changed"
                )
            result = restore_staged(repo, name, staging, tolerate_loss=True)
        _check_node_key(os.path.join(staging, "data"), node_id)
        _swap(os.path.join(staging, "data"), data_path, os.path.join(staging, "old"))
        _install_uci(os.path.join(staging, "uci", "mailserver"), confdir)
        if not result["lost"] and not fetched.damaged:
            os.rename(copy, own)  # the copy is our repository again; the next backup continues it
        # else: a damaged copy would make the next backup skip objects it believes stored;
        # it is dropped, and the next backup starts a new repository (same node and master key)
    finally:
        for source in sources:
            source.close()
        shutil.rmtree(staging, ignore_errors=True)
    result = dict(result, target=data_path)
    return {
        "result": "ok" if not result["lost"] else "incomplete",
        "node_id": node_id,
        "peer": f"{primary[1]}:{primary[2]}",
        "repository_kept": not result["lost"] and not fetched.damaged,
        **fetched.facts(),
        **result,
    }


def _newest_peer(
    specs: list[tuple[str, str, int]], auth: Any
) -> tuple[Any, tuple[str, str, int], str | None]:
    """An SFTP session to the peer holding the newest copy of ours, and a warning if others hold older ones.

    Every peer is asked (its host key pinned to the id given): a peer serving an
    older head than another is rolled back or withholding, so the newest wins.
    """
    errors: list[str] = []
    found: list[tuple[int, int, Any, tuple[str, str, int]]] = []
    try:
        for order, spec in enumerate(specs):
            node_id, host, port = spec
            try:
                sftp = connect(host, port, auth, expected=node_id)
            except PeerError as exc:
                text = str(exc)
                if "presents the key of node" in text:  # a wrong id or someone else answering: stop here
                    raise PeerError(text.replace("; not syncing", "; nothing was fetched")) from None
                if "refused our key" in text:
                    text = (
                        f"the peer at {host}:{port} holds no copy that this recovery key opens "
                        "(wrong key, an older key, or the peer never pulled from this node)"
                    )
                errors.append(text)
                continue
            found.append((_remote_head(sftp, auth.public_raw), -order, sftp, spec))
        if not found:
            raise PeerError(
                errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more peers failed)"
            )
        best = max(found, key=lambda item: item[:2])
    except BaseException:
        for _seq, _order, session, _spec in found:
            _close(session)
        raise
    for _seq, _order, session, _spec in found:
        if session is not best[2]:
            _close(session)
    older = [f"{spec[0]} (head {seq})" for seq, _o, _s, spec in found if seq < best[0]]
    warning = None
    if older:
        warning = (
            f"peer {', '.join(older)} serves an older copy than peer {best[3][0]} (head {best[0]}): "
            "rolled back or withheld there; recovering from the newest"
        )
    return best[2], best[3], warning


def _read_small(sftp: Any, path: str, limit: int) -> bytes | None:
    try:
        if (sftp.stat(path).st_size or 0) > limit:
            return None
        with sftp.open(path, "rb") as handle:
            return handle.read(limit)
    except (OSError, EOFError):
        return None


def _remote_head(sftp: Any, auth_public: bytes) -> int:
    """The head number of the copy a peer serves, if that copy is ours (its recovery.pub names our key)."""
    import json

    from secumail.mesh.recovery_key import recovery_key_in

    try:
        node_id = json.loads(_read_small(sftp, "/stored/config", 4096) or b"{}").get("node_id")
    except (ValueError, AttributeError):
        return -1
    pub = _read_small(sftp, "/stored/recovery.pub", 64 << 10)
    if not isinstance(node_id, str) or pub is None or recovery_key_in(pub, node_id) != auth_public:
        return -1
    best = 0
    try:
        names = sftp.listdir("/stored/heads")
    except (OSError, EOFError):
        names = []
    for name in names:
        raw = _read_small(sftp, f"/stored/heads/{name}", heads.MAX_HEAD)
        body = heads.parse(raw, name, node_id) if raw is not None else None
        if body is not None:
            best = max(best, body["seq"])
    return best


def restore_staged(repo: Repository, snapshot: str, staging: str, *, tolerate_loss: bool) -> dict[str, Any]:
    from secumail.mesh.restore import restore

    return restore(
        repo, snapshot, os.path.join(staging, "data"), uci_dest=os.path.join(staging, "uci"),
        tolerate_loss=tolerate_loss,
    )  # fmt: skip


def _check_node_key(staged: str, node_id: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from secumail.mesh.identity import NodeKey

    path = DataLayout(staged).node_key
    try:
        with open(path, "rb") as handle:
            loaded = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError):
        loaded = None
    got = NodeKey(loaded).node_id if isinstance(loaded, Ed25519PrivateKey) else "none"
    if got != node_id:
        raise SecumailError(
            f"the restored node key ({got}) is not the one that made the backup ({node_id}); "
            "nothing was changed"
        )


# rebuildable state of this node that a snapshot never holds: kept across the swap
_KEEP = ("mesh/state",)


def _swap(staged: str, data_path: str, old: str) -> None:
    """Move each restored top-level entry into data_path; what it replaces goes to `old` (deleted after)."""
    for rel in _KEEP:
        here, there = os.path.join(data_path, rel), os.path.join(staged, rel)
        if os.path.isdir(here) and not os.path.lexists(there) and os.path.isdir(os.path.dirname(there)):
            os.rename(here, there)
    os.makedirs(old, mode=0o700, exist_ok=True)
    for name in sorted(os.listdir(staged)):
        if name == "backup":
            continue  # never in a snapshot; ours holds the staging directory itself
        dest = os.path.join(data_path, name)
        if os.path.lexists(dest):
            os.rename(dest, os.path.join(old, name))
        os.rename(os.path.join(staged, name), dest)


def _install_uci(staged: str, confdir: str) -> None:
    from secumail.config.uci_paths import replace_package

    if not os.path.isfile(staged):
        return
    with open(staged, "rb") as handle:
        data = handle.read()
    replace_package(confdir, data, stat.S_IMODE(os.stat(staged).st_mode))
