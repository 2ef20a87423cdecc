"""Getting our backups back from a peer: `restore --from`, `verify --from` and `recover`.

`recover` is disaster recovery on a fresh router: it has a new node key nobody
pinned, so it authenticates with the key derived from the recovery key, which
the peer accepts read-only for the one copy whose signed recovery.pub names it
(sftpd.Server). The copy is fetched into data_path/backup/, opened with the
recovery key, the latest snapshot is restored over data_path and the UCI config
(node key, master key, mail, accounts, DKIM keys, certificates), and the copy
becomes this node's repository again, so the next backup continues it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from secumail.errors import InputError, SecumailError
from secumail.mesh import keys
from secumail.mesh.repo import Repository, read_config
from secumail.mesh.transport import PeerError, Progress, Throttle, connect, fetch_copy


def open_with_secret(path: str, secret: bytes) -> Repository:
    read_config(path)  # the version is checked before any key is tried
    keydir = os.path.join(path, "keys")
    slots = []
    for name in sorted(os.listdir(keydir)) if os.path.isdir(keydir) else []:
        if name.startswith("."):
            continue
        with open(os.path.join(keydir, name), "rb") as handle:
            slots.append((name, handle.read()))
    return Repository(path, keys.open_slots(slots, secret))


def _close(sftp: Any) -> None:
    with contextlib.suppress(Exception):
        sftp.get_channel().get_transport().close()


@contextlib.contextmanager
def fetched_copy(
    settings: Any, node_id: str, secret: bytes | None = None, progress: Progress | None = None
) -> Iterator[Repository]:
    """Our repository as pinned peer `node_id` holds it, fetched into a temp dir and opened."""
    from secumail.mesh.identity import load_or_create, normalize_node_id
    from secumail.mesh.transport import _peers

    data_path = settings.main.data_path
    (peer_id, host, port), *_ = _peers(settings, normalize_node_id(node_id))
    node = load_or_create(data_path)
    base = os.path.join(data_path, "backup")
    os.makedirs(base, mode=0o700, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".fetch-", dir=base)
    try:
        sftp = connect(host, port, node, peer_id)
        try:
            fetch_copy(sftp, tmp, Throttle(settings.mesh.bwlimit), progress)
        finally:
            _close(sftp)
        if secret is not None:
            repo = open_with_secret(tmp, secret)
        elif os.path.exists(keys.master_path(data_path)):
            repo = Repository(tmp, keys.load_or_create_master(data_path))
        else:
            raise InputError("no local master key: give the recovery key with --recovery-key-stdin")
        with repo:
            yield repo
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover(
    settings: Any, confdir: str, address: str, secret: bytes, progress: Progress | None = None
) -> dict[str, Any]:
    """Bring this (fresh) node back from the copy the peer at `address` holds."""
    from secumail.mesh.identity import load_or_create, parse_address
    from secumail.mesh.restore import restore

    data_path = settings.main.data_path
    own = os.path.join(data_path, "backup", "repo")
    if os.path.exists(os.path.join(own, "config")):
        raise InputError(
            f"{own} already holds a backup repository: recover is for a fresh node "
            "(to restore on this node use 'mailctl mesh restore')"
        )
    host, port = parse_address(address, settings.mesh.port)
    if not host:
        raise InputError("give the peer's address: mailctl mesh recover HOST[:PORT]")
    auth = keys.recovery_auth_key(secret)
    try:
        sftp = connect(host, port, auth, expected=None)
    except PeerError as exc:
        if "refused our key" in str(exc):
            raise PeerError(
                f"the peer at {host}:{port} holds no copy that this recovery key opens "
                "(wrong key, an older key, or the peer never pulled from this node)"
            ) from None
        raise
    os.makedirs(os.path.join(data_path, "backup"), mode=0o700, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".recover-", dir=os.path.join(data_path, "backup"))
    try:
        try:
            fetched = fetch_copy(sftp, staging, Throttle(settings.mesh.bwlimit), progress)
        finally:
            _close(sftp)
        with open_with_secret(staging, secret) as repo:
            result = restore(repo, None, data_path, uci_dest=confdir)
        node = load_or_create(data_path)  # the restored node key: the id peers pinned
        if node.node_id != read_config(staging).get("node_id"):
            raise SecumailError(
                f"the restored node key ({node.node_id}) is not the one that made the backup; "
                "the snapshot lacks mesh/node.key"
            )
        os.rename(staging, own)  # the copy is our repository again; the next backup continues it
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "result": "ok",
        "node_id": node.node_id,
        "peer": f"{host}:{port}",
        "fetched_files": fetched["files"],
        "fetched_bytes": fetched["bytes"],
        **result,
    }
