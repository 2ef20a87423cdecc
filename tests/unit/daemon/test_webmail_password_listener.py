"""secumaild's webmail password-change listener: on only while webmail.enabled, on the bridge's host
address, and only the webmail container's address gets a worker."""

import dataclasses
import ipaddress
import selectors
import socket

from secumail.config import default_package, settings_from_package
from secumail.daemon import webmailpass
from tests.unit.daemon.test_mesh_listener import FakeWorker, _free_port, _pump


def _settings(port, enabled=True):
    s = settings_from_package(default_package())
    # the host is 127.0.0.1 on the "bridge", the mail container .2, so the webmail container is 127.0.0.3
    container = dataclasses.replace(s.container, host_address=ipaddress.IPv4Interface("127.0.0.1/8"),
                                    address=ipaddress.IPv4Interface("127.0.0.2/8"))  # fmt: skip
    return dataclasses.replace(s, container=container,
                               webmail=dataclasses.replace(s.webmail, enabled=enabled, password_port=port))


def test_off_unless_the_webmail_is_enabled():
    assert webmailpass.wanted(_settings(8027, enabled=False)) is None
    assert webmailpass.wanted(_settings(0)) is None
    assert webmailpass.wanted(_settings(8027)) == ("127.0.0.1", 8027)


def test_only_the_webmail_address_gets_a_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(webmailpass.subprocess, "Popen", FakeWorker)
    selector = selectors.DefaultSelector()
    service = webmailpass.PasswordService(selector, str(tmp_path))
    port = _free_port()
    service.update(_settings(port))
    try:
        stranger = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        _pump(selector)
        stranger.settimeout(2)
        assert stranger.recv(1) == b"" and service.refused == 1 and not service.workers
        webmail = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0))
        _pump(selector)
        assert len(service.workers) == 1 and service.served == 1
        assert "secumail.appliance.webmailpass" in service.workers[0].args[0]
        stranger.close()
        webmail.close()
        service.workers = []  # fakes: nothing to terminate
        service.update(_settings(port, enabled=False))
        assert service.listener is None
    finally:
        service.workers = []
        service.close()
