"""Three nodes in network namespaces on a bridge the test makes (no default routes).

Each node has its own confdir and data_path and runs `python -m secumail.mesh.sftpd`
inside its namespace; mailctl runs in the namespace too.
"""

import glob
import os
from pathlib import Path

import pytest

from tests.integration.mesh.nsworld import NODES, PORT, NsNode
from tests.support.files import tree_state
from tests.support.maildir import copy_corpus

pytestmark = pytest.mark.integration
NAMES = ("a", "b", "c")


@pytest.fixture(scope="module")
def mesh(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("mesh")
    nodes = {name: NsNode(name, root) for name in NAMES}
    ids = {name: n.ok("mesh", "id")["node_id"] for name, n in nodes.items()}
    for name, n in nodes.items():
        for other in NAMES:
            if other != name:
                n.ok("mesh", "add-peer", ids[other], f"{NODES[other]}:{PORT}")
    copy_corpus(nodes["a"].data, messages=300, seed=5)
    (nodes["a"].data / "config").mkdir()
    (nodes["a"].data / "config" / "users").write_text("bob@a.example.org:{BLF-CRYPT}$2y$05$xyz\n")
    for n in nodes.values():
        n.start()
    yield nodes, ids, root
    for n in nodes.values():
        n.stop()


def test_backup_on_a_pulled_by_b_and_c_restores_byte_for_byte(mesh, tmp_path):
    nodes, ids, root = mesh
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    recovery = a.ok("mesh", "key", "export")["recovery_key"]
    a.ok("mesh", "backup")
    for puller in (b, c):
        rows = puller.ok("mesh", "sync", "pull", "--peer", ids["a"])
        assert rows[0]["result"] == "ok" and rows[0]["files"] >= 4
        again = puller.ok("mesh", "sync", "pull", "--peer", ids["a"])
        assert again[0]["files"] == 0  # nothing re-sent that had landed
    copy = b.data / "backup" / "peers" / ids["a"]
    target = tmp_path / "restored"
    fresh = NsNode("c", tmp_path / "fresh")  # a node that never saw A's keys
    fresh.ok("mesh", "restore", str(copy), "--target", str(target), "--recovery-key-stdin", stdin=recovery + "\n")
    assert tree_state(target, skip=("backup", "mesh", "uci")) == tree_state(a.data)
    rows = {r["node_id"]: r for r in b.ok("mesh", "peers")}
    assert rows[ids["a"]]["stored_bytes"] > 0 and rows[ids["a"]]["last_sync"] != "never"


def test_peer_store_holds_no_plaintext(mesh):
    nodes, ids, root = mesh
    a, b = nodes["a"], nodes["b"]
    a.ok("mesh", "backup")
    b.ok("mesh", "sync", "pull", "--peer", ids["a"])
    a.ok("mesh", "sync", "push", "--peer", ids["b"])
    stored = b.data / "backup"
    messages = [p for p in glob.glob(str(a.data / "mail" / "*" / "*" / "cur" / "*"))][:30]
    needles = {b"Delivered-To", b"bob@a.example.org", b"BLF-CRYPT"}
    for path in messages:
        text = Path(path).read_bytes()
        needles.add(text.split(b"\r\n\r\n", 1)[1][:40])
        needles.add(next(line for line in text.split(b"\r\n") if line.startswith(b"Subject: ")))
    blob = b"".join(Path(p).read_bytes() for p in glob.glob(str(stored / "**"), recursive=True) if os.path.isfile(p))
    assert len(blob) > 1_000_000
    assert [n for n in needles if n in blob] == []


def _client_as(node_dir, host, expected=None):
    from secumail.mesh.identity import load_or_create
    from secumail.mesh.transport import connect

    return connect(host, PORT, load_or_create(str(node_dir)), expected)


def test_inbox_is_append_only_and_private(mesh):
    nodes, ids, root = mesh
    a, b = nodes["a"], nodes["b"]
    a.ok("mesh", "backup")
    b.ok("mesh", "backup")
    a.ok("mesh", "sync", "push", "--peer", ids["b"])
    sftp = _client_as(a.data, b.addr, ids["b"])
    try:
        # pushed files are checked and moved from the inbox into B's store for A (/stored)
        landed = [f for f in sftp.listdir("/stored/snapshots") if not f.startswith(".")]
        assert landed and not [f for f in sftp.listdir("/inbox/snapshots") if not f.startswith(".")]
        final = f"/inbox/snapshots/{landed[0]}"
        with pytest.raises(PermissionError):
            sftp.remove(final)
        with pytest.raises(PermissionError):
            sftp.open(final, "w")  # overwrite
        with pytest.raises(PermissionError):
            sftp.open(final, "r")  # no reading back
        with sftp.open("/inbox/snapshots/.tmp-x1", "w") as handle:
            handle.write(b"junk")
        with pytest.raises(PermissionError):
            sftp.rename("/inbox/snapshots/.tmp-x1", final)  # rename onto a landed name
        with pytest.raises(PermissionError):
            sftp.open(f"/stored/snapshots/{landed[0]}", "w")  # the store is read-only for A
        with pytest.raises(PermissionError):
            sftp.open(f"/inbox/../../inbox/{ids['c']}/x", "w")
        with pytest.raises((PermissionError, FileNotFoundError)):
            sftp.listdir(f"/inbox/../{ids['c']}")
        with pytest.raises(PermissionError):
            sftp.open("/repo/config", "w")  # their repository is read-only
        with pytest.raises(PermissionError):
            sftp.remove("/repo/config")
        assert sftp.open("/repo/config", "r").read().startswith(b"{")
    finally:
        sftp.get_channel().get_transport().close()


def test_unpinned_key_refused_at_connect(mesh, tmp_path):
    from secumail.mesh.transport import PeerError

    nodes, ids, root = mesh
    stranger = tmp_path / "stranger"
    with pytest.raises(PeerError, match="refused our key"):
        _client_as(stranger, nodes["b"].addr, ids["b"])
    with pytest.raises(PeerError, match="not the pinned"):
        _client_as(nodes["a"].data, nodes["b"].addr, ids["c"])  # B answering where C was pinned
