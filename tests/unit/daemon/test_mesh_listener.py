"""secumaild's mesh listener: bound to mesh.listen, and no address takes every worker slot."""

import dataclasses
import selectors
import socket
import time

from secumail.config import default_package, settings_from_package
from secumail.daemon import mesh


class FakeWorker:
    """Stands for an `sftpd --fd` worker that is still serving."""

    pid = 0  # never signalled: the test empties service.workers before close()

    def __init__(self, *args, **kwargs):
        self.args = args

    def poll(self):
        return None


def _settings(port, listen=()):
    s = settings_from_package(default_package())
    return dataclasses.replace(s, mesh=dataclasses.replace(s.mesh, enabled=True, discovery=False, port=port,
                                                           listen=tuple(listen)))  # fmt: skip


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pump(selector, seconds=0.3):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, mask in selector.select(0.05):
            key.data(mask)


def test_one_address_gets_at_most_two_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh.subprocess, "Popen", FakeWorker)
    selector = selectors.DefaultSelector()
    service = mesh.MeshService(selector, str(tmp_path))
    port = _free_port()
    service.update(_settings(port, ["127.0.0.1"]))
    try:
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        _pump(selector)
        assert len(service.workers) == mesh.MAX_PER_ADDRESS and service.refused == 1
        clients[2].settimeout(2)
        assert clients[2].recv(1) == b""  # the third was closed at once
        for client in clients:
            client.close()
    finally:
        service.workers = []  # fakes: nothing to terminate
        service.close()


def test_listens_only_on_the_configured_address(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh.subprocess, "Popen", FakeWorker)
    service = mesh.MeshService(selectors.DefaultSelector(), str(tmp_path))
    port = _free_port()
    service.update(_settings(port, ["127.0.0.1"]))
    try:
        assert [sock.getsockname()[:2] for sock in service.listeners] == [("127.0.0.1", port)]
        assert service.info()["listen"] == ["127.0.0.1"]
    finally:
        service.workers = []  # fakes: nothing to terminate
        service.close()
