"""The per-connection SFTP worker (`sftpd --fd`, as secumaild starts it) serves peers as mesh.user."""

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from secumail.mesh.identity import load_or_create
from secumail.mesh.transport import connect
from tests.unit.mesh.meshnode import Node

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _uid(pid):
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("Uid:")).split()[1])


def _serve_one(server, confdir):
    """Accept one connection and hand it to a worker process; returns a holder for the Popen."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = {}

    def accept():
        conn, _ = listener.accept()
        held["worker"] = subprocess.Popen(
            [sys.executable, "-m", "secumail.mesh.sftpd", "--confdir", confdir, "--fd", str(conn.fileno())],
            pass_fds=(conn.fileno(),), env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.PIPE,
        )  # fmt: skip
        conn.close()
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], held


def _session(base, capsys, monkeypatch):
    server = Node(Path(base) / "srv", capsys, monkeypatch)
    (server.data / "config").mkdir()
    (server.data / "config" / "users").write_text("alice@example.org:{BLF-CRYPT}$2y$05$abc\n")
    client = load_or_create(os.path.join(base, "client"))
    server.ok("mesh", "add-peer", client.node_id)
    server.ok("mesh", "backup")
    port, held = _serve_one(server, str(server.conf))
    sftp = connect("127.0.0.1", port, client, load_or_create(str(server.data)).node_id)
    return server, client, sftp, held


def _push_one(sftp):
    body = b"pushed pack"
    name = hashlib.sha256(body).hexdigest()
    sftp.mkdir(f"/inbox/data/{name[:2]}")
    with sftp.open(f"/inbox/data/{name[:2]}/.tmp-1", "w") as handle:
        handle.write(body)
    sftp.rename(f"/inbox/data/{name[:2]}/.tmp-1", f"/inbox/data/{name[:2]}/{name}")
    return f"data/{name[:2]}/{name}"


@pytest.fixture
def base():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop it")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    path = tempfile.mkdtemp(prefix="secumail-privdrop-", dir="/tmp")
    os.chmod(path, 0o755)  # noqa: S103 - nobody must reach data_path, as on a router
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_worker_serves_a_peer_as_nobody(base, capsys, monkeypatch):
    server, client, sftp, held = _session(base, capsys, monkeypatch)
    try:
        assert _uid(held["worker"].pid) == pwd.getpwnam("nobody").pw_uid
        assert sftp.open("/repo/config").read().startswith(b"{")  # our repository: readable by its group
        rel = _push_one(sftp)
    finally:
        sftp.get_channel().get_transport().close()
    held["worker"].wait(10)
    landed = server.data / "backup" / "peers" / client.node_id / rel
    assert landed.read_bytes() == b"pushed pack" and landed.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert (server.data / "mesh" / "node.key").stat().st_mode & 0o077 == 0  # still root's alone


def test_worker_keeps_root_where_nobody_cannot_reach_the_data(tmp_path, capsys, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    os.chmod(tmp_path, 0o700)
    server, client, sftp, held = _session(str(tmp_path), capsys, monkeypatch)
    try:
        assert _uid(held["worker"].pid) == 0
        _push_one(sftp)
    finally:
        sftp.get_channel().get_transport().close()
    _out, err = held["worker"].communicate(timeout=10)
    assert b"not searchable by nobody" in err
