"""Our SFTP service against a pinned peer that misbehaves: the inbox stays append-only and
within mesh.peer_quota across parallel connections; a connection that never
authenticates is closed (docs/backup-format.md 12)."""

import hashlib
import os
import socket
import threading
import time
from types import SimpleNamespace

import paramiko
import pytest

from secumail.mesh import sftpd
from secumail.mesh.identity import load_or_create
from secumail.mesh.transport import connect

MIB = 1 << 20


class Service:
    """sftpd.handle_connection for each connection to a loopback port, as the daemon's workers do."""

    def __init__(self, data_path, pinned, quota):
        self.node = load_or_create(data_path)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.args = (self.node, data_path, pinned, quota)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=sftpd.handle_connection, args=(conn, *self.args), daemon=True).start()


@pytest.fixture
def service(tmp_path):
    client = load_or_create(str(tmp_path / "client"))
    served = Service(str(tmp_path / "server"), {client.node_id}, 8 * MIB)
    inbox = tmp_path / "server" / "backup" / "inbox" / client.node_id
    opened = []

    def session():
        sftp = connect("127.0.0.1", served.port, client, served.node.node_id)
        opened.append(sftp)
        return sftp

    yield SimpleNamespace(session=session, inbox=inbox, port=served.port)
    served.sock.close()
    for sftp in opened:
        sftp.get_channel().get_transport().close()


def test_a_write_past_the_end_is_refused_and_makes_no_sparse_file(service):
    session, inbox = service.session, service.inbox
    sftp = session()
    handle = sftp.open("/inbox/index/.tmp-far", "w")
    handle.seek(1 << 40)
    with pytest.raises(OSError):
        handle.write(b"x")
        handle.flush()
    st = os.stat(inbox / "index" / ".tmp-far")
    assert st.st_size == 0 and st.st_blocks == 0
    handle = sftp.open("/inbox/index/.tmp-near", "w")
    handle.write(b"abc")
    handle.flush()
    handle.seek(1)
    with pytest.raises(OSError):  # nor over what is there
        handle.write(b"Z")
        handle.flush()
    assert (inbox / "index" / ".tmp-near").read_bytes() == b"abc"


def test_a_file_a_write_to_was_refused_never_gets_its_final_name(service):
    """A client pipelining its writes may miss a refused one (a full disk) and rename anyway."""
    session, inbox = service.session, service.inbox
    sftp = session()
    data = b"whole pack"
    name = hashlib.sha256(data).hexdigest()
    sftp.mkdir(f"/inbox/data/{name[:2]}")
    handle = sftp.open(f"/inbox/data/{name[:2]}/.tmp-gap", "w")
    handle.write(data[:5])
    handle.flush()
    handle.seek(7)  # a gap, as after a write the server could not take
    with pytest.raises(OSError):
        handle.write(data[7:])
        handle.flush()
    handle.close()
    with pytest.raises(OSError) as refused:
        sftp.rename(f"/inbox/data/{name[:2]}/.tmp-gap", f"/inbox/data/{name[:2]}/{name}")
    assert not isinstance(refused.value, PermissionError)  # the client reports it, it does not count it as landed
    assert [f for _, _, fs in os.walk(inbox) for f in fs] == []


def test_parallel_connections_share_one_quota(service):
    session, inbox = service.session, service.inbox
    first, second = session(), session()
    a = first.open("/inbox/data/.tmp-a", "w")
    b = second.open("/inbox/data/.tmp-b", "w")
    for handle in (a, b):  # both connections have written before either grows
        handle.write(b"x")
        handle.flush()
    a.write(os.urandom(5 * MIB))
    a.flush()
    with pytest.raises(OSError):
        b.write(os.urandom(5 * MIB))
        b.flush()
    held = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(inbox) for f in fs)
    assert held <= 8 * MIB


def test_names_outside_the_layout_never_land_in_the_inbox(service):
    session, inbox = service.session, service.inbox
    sftp = session()
    with pytest.raises(PermissionError):
        sftp.mkdir("/inbox/elsewhere")
    with pytest.raises(PermissionError):
        sftp.open("/inbox/elsewhere/.tmp-x", "w")
    with sftp.open("/inbox/.tmp-y", "w") as handle:
        handle.write(b"{}")
    with pytest.raises(PermissionError):
        sftp.rename("/inbox/.tmp-y", "/inbox/notes.txt")
    assert not os.path.exists(inbox / "elsewhere") and not os.path.exists(inbox / "notes.txt")


def test_a_connection_that_never_authenticates_is_closed(service, monkeypatch):
    monkeypatch.setattr(sftpd, "PREAUTH_TIMEOUT", 1.0, raising=False)
    sock = socket.create_connection(("127.0.0.1", service.port))
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=5)  # banner and key exchange, then no authentication at all
    deadline = time.monotonic() + 5
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not transport.is_active()
    transport.close()


def test_the_standalone_service_reads_pins_again_for_each_connection(node, tmp_path):
    from secumail.config import load_settings
    from secumail.mesh.transport import PeerError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(node.conf / "mailserver", "a") as handle:
        handle.write(f"\nconfig mesh 'mesh'\n\toption port '{port}'\n")
    ready = threading.Event()
    settings = load_settings(str(node.conf))
    threading.Thread(target=sftpd.serve, args=(settings, ["127.0.0.1"], ready),
                     kwargs={"confdir": str(node.conf)}, daemon=True).start()  # fmt: skip
    assert ready.wait(10)
    client = load_or_create(str(tmp_path / "late"))
    server_id = load_or_create(str(node.data)).node_id
    with pytest.raises(PeerError, match="refused our key"):
        connect("127.0.0.1", port, client, server_id)
    node.ok("mesh", "add-peer", client.node_id)  # pinned while the service runs
    sftp = connect("127.0.0.1", port, client, server_id)
    assert sorted(sftp.listdir("/")) == ["inbox", "repo", "stored"]
    sftp.get_channel().get_transport().close()
