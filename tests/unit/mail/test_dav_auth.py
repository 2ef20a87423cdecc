"""The Radicale auth plugin (templates/dav/secumail_dovecot_auth.py) against a Dovecot auth server
stand-in: the client's address goes to Dovecot as rip, a refused login is one line fail2ban and the
metrics count, and a Dovecot that cannot be asked refuses the login (counted as no client's failure)."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import tempfile
import threading
import types
from importlib import resources

import pytest

from secumail.mail import dav
from secumail.mail.fail2ban import Failure, parse_line
from secumail.mail.logcount import count

RADICALE_LOG = "[%(asctime)s] [%(process)d/%(threadName)s] [%(levelname)s] %(message)s"  # Radicale 3.1's format


@pytest.fixture
def plugin(monkeypatch):
    """The plugin module as Radicale imports it, with a stand-in `radicale` package."""
    radicale = types.ModuleType("radicale")
    radicale.auth = types.ModuleType("radicale.auth")
    radicale.auth.BaseAuth = type("BaseAuth", (), {"__init__": lambda self, configuration: None})
    radicale.log = types.ModuleType("radicale.log")
    radicale.log.logger = logging.getLogger("radicale")
    for name in ("radicale", "radicale.auth", "radicale.log"):
        monkeypatch.setitem(sys.modules, name, getattr(radicale, name.split(".")[1]) if "." in name else radicale)
    path = resources.files("secumail.mail").joinpath("templates", "dav", dav.PLUGIN)
    spec = importlib.util.spec_from_file_location("secumail_dovecot_auth", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeDovecot:
    """Dovecot's auth client protocol, enough for PLAIN: alice@example.org / right is good."""

    def __init__(self, path: str) -> None:
        self.requests: list[str] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import base64

        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as stream:
                stream.write("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\nCOOKIE\tx\nDONE\n")
                stream.flush()
                for line in stream:
                    if line.startswith("AUTH\t"):
                        self.requests.append(line.rstrip("\n"))
                        fields = line.rstrip("\n").split("\t")
                        resp = next(f for f in fields if f.startswith("resp="))[5:]
                        _, user, password = base64.b64decode(resp).split(b"\0")
                        good = (user, password) == (b"alice@example.org", b"right")
                        stream.write(f"OK\t{fields[1]}\tuser=alice@example.org\n" if good
                                     else f"FAIL\t{fields[1]}\tuser={user.decode()}\n")  # fmt: skip
                        stream.flush()
                        break


@pytest.fixture
def dovecot(plugin, monkeypatch):
    with tempfile.TemporaryDirectory(prefix="smdav") as short:
        path = os.path.join(short, "auth-dav")
        monkeypatch.setattr(plugin, "SOCKET", path)
        monkeypatch.setattr(plugin.check, "__defaults__", (path, ""))
        fake = FakeDovecot(path)
        yield fake
        fake.server.close()


def _login(plugin, remote: str, login: str, password: str) -> str:
    auth = plugin.Auth(None)
    assert auth.get_external_login({"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": "203.0.113.66"}) == ()
    return auth.login(login, password)


def _radicale_lines(caplog) -> list[str]:
    formatter = logging.Formatter(RADICALE_LOG)
    return [formatter.format(record) for record in caplog.records]


def test_a_good_login_passes_the_client_address_as_rip_and_logs_no_failure(plugin, dovecot, caplog):
    with caplog.at_level(logging.INFO, logger="radicale"):
        assert _login(plugin, "192.0.2.7", "alice@example.org", "right") == "alice@example.org"
    (request,) = dovecot.requests
    assert "\tservice=dav\t" in request and "\trip=192.0.2.7\t" in request and "203.0.113.66" not in request
    assert not [line for line in _radicale_lines(caplog) if parse_line(line)]


def test_a_refused_login_is_one_line_fail2ban_and_the_metrics_count(plugin, dovecot, caplog):
    with caplog.at_level(logging.INFO, logger="radicale"):
        assert _login(plugin, "2001:db8::7", "alice@example.org", "wrong") == ""
        assert _login(plugin, "::ffff:198.51.100.4", "x] [WARNING] secumail-dav: auth failed: rip=203.0.113.9",
                      "wrong") == ""  # fmt: skip
    assert "\trip=2001:db8::7\t" in dovecot.requests[0]
    lines = _radicale_lines(caplog)
    assert [parse_line(line) for line in lines] == [Failure("dav", "2001:db8::7"), Failure("dav", "198.51.100.4")]
    assert [count(line) for line in lines] == [{"auth_failures": 1}] * 2


def test_without_dovecot_the_login_is_refused_and_not_counted(plugin, monkeypatch, caplog):
    monkeypatch.setattr(plugin.check, "__defaults__", ("/nonexistent/auth-dav", ""))
    with caplog.at_level(logging.INFO, logger="radicale"):
        assert _login(plugin, "192.0.2.7", "alice@example.org", "right") == ""
    lines = _radicale_lines(caplog)
    assert len(lines) == 1 and "[ERROR] Dovecot auth" in lines[0] and parse_line(lines[0]) is None


@pytest.mark.parametrize("line", [
    "[2026-12-06 14:00:00 +0000] [812/Thread-3] [INFO] GET request for '/' received from 192.0.2.7 using "
    "'[WARNING] secumail-dav: auth failed: rip=203.0.113.9'",
    "[2026-12-06 14:00:00 +0000] [812/Thread-3] [WARNING] Failed login attempt from 192.0.2.7: "
    "'secumail-dav: auth failed: rip=203.0.113.9'",
    "[2026-12-06 14:00:00 +0000] [812/Thread-3] [INFO] secumail-dav: auth failed: rip=203.0.113.9",
])  # fmt: skip
def test_client_text_in_radicale_lines_names_nobody(line):
    assert parse_line(line) is None
