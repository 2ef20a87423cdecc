"""Three nodes in network namespaces on a bridge the test makes (no default routes).

Each node has its own confdir and data_path and runs `python -m secumail.mesh.sftpd`
inside its namespace; mailctl runs in the namespace too.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.mesh.conftest import make_maildir, tree_state

pytestmark = pytest.mark.integration
BRIDGE = "smtbr0"
NODES = {"a": "10.239.7.11", "b": "10.239.7.12", "c": "10.239.7.13"}
PORT = 7022


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


@pytest.fixture(scope="module")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is missing")
    teardown()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", "10.239.7.254/24", "dev", BRIDGE)  # the test process talks to the nodes too
    sh("ip", "link", "set", BRIDGE, "up")
    for name, addr in NODES.items():
        ns = f"smt-{name}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"smt-{name}0", "type", "veth", "peer", "name", f"smt-{name}1")
        sh("ip", "link", "set", f"smt-{name}0", "master", BRIDGE, "up")
        sh("ip", "link", "set", f"smt-{name}1", "netns", ns)
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", f"smt-{name}1")
        sh("ip", "-n", ns, "link", "set", f"smt-{name}1", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    yield
    teardown()


def teardown():
    for name in NODES:
        sh("ip", "netns", "del", f"smt-{name}", check=False)
        sh("ip", "link", "del", f"smt-{name}0", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


class NsNode:
    def __init__(self, name, root):
        self.name, self.ns, self.addr = name, f"smt-{name}", NODES[name]
        self.conf, self.data = root / name / "config", root / name / "data"
        self.conf.mkdir(parents=True)
        self.data.mkdir()
        (self.conf / "mailserver").write_text(
            f"\nconfig mailserver 'main'\n\toption domain '{name}.example.org'\n\toption data_path '{self.data}'\n"
        )
        self.env = dict(os.environ, SECUMAIL_CONFDIR=str(self.conf), SECUMAIL_SAVEDIR=str(root / name / "save"))
        self.server = None

    def run(self, *args, stdin=""):
        cmd = ["ip", "netns", "exec", self.ns, sys.executable, "-m", "secumail.cli", "--json", *args]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=self.env, timeout=120)

    def ok(self, *args, stdin=""):
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def start(self):
        log = open(self.data.parent / "sftpd.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", "secumail.mesh.sftpd", "--listen", self.addr],
            env=self.env, stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sh("ip", "netns", "exec", self.ns, "ss", "-ltn", check=False).stdout.count(f":{PORT}"):
                return
            time.sleep(0.05)
        raise AssertionError(f"sftpd of {self.name} did not start")

    def stop(self):
        if self.server:
            self.server.kill()
            self.server.wait()


@pytest.fixture(scope="module")
def mesh(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("mesh")
    nodes = {name: NsNode(name, root) for name in NODES}
    ids = {name: n.ok("mesh", "id")["node_id"] for name, n in nodes.items()}
    for name, n in nodes.items():
        for other in NODES:
            if other != name:
                n.ok("mesh", "add-peer", ids[other], f"{NODES[other]}:{PORT}")
    make_maildir(nodes["a"].data, 300, seed=5)
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
