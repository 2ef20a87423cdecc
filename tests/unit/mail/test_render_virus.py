"""Rendered virus scanning (features.virus_scan): clamd, clamav-milter, freshclam, Postfix's milters."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from secumail.mail import render, virus
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN, _params, _services

CLAMAV = "unix:/var/spool/postfix/clamav/clamav-milter.ctl"
RSPAMD = "unix:/var/spool/postfix/rspamd/milter.sock"
OPENDKIM = "unix:/var/spool/postfix/opendkim/opendkim.sock"


def _render(tmp_path, **sections):
    return render.render_all(make_settings(tmp_path / "data", **sections), ["example.org"], GEN)


def _conf(text: str) -> dict[str, str]:
    """`Option value` lines of a ClamAV config file."""
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_off_by_default_nothing_of_clamav_is_rendered_and_the_reload_stops_it(tmp_path):
    files = _render(tmp_path)
    assert not [path for path in files if path.startswith("clamav/")]
    main = _params(files["postfix/main.cf"][0])
    assert "clamav" not in main["smtpd_milters"] and main["smtpd_milters"] == RSPAMD
    reload = files["container/reload"][0]
    assert "features.virus_scan is off" in reload and "clamd --config-file" not in reload


def test_clamav_milter_is_the_first_milter_on_every_smtp_port(tmp_path):
    files = _render(tmp_path, features={"virus_scan": "1"})
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_milters"] == f"{CLAMAV},{RSPAMD}"  # port 25: ClamAV, then Rspamd
    assert main["non_smtpd_milters"] == OPENDKIM  # local mail: signed, not scanned
    services = _services(files["postfix/master.cf"][0])
    for name in ("587", "465"):
        assert f"-o smtpd_milters={CLAMAV},{OPENDKIM}" in services[name]
    # the spam filter off: ClamAV, then OpenDKIM (which verifies on port 25 then) and the light path's OpenDMARC
    main = _params(_render(tmp_path, features={"virus_scan": "1", "spam_filter": "0"})["postfix/main.cf"][0])
    assert main["smtpd_milters"] == f"{CLAMAV},{OPENDKIM},unix:/var/spool/postfix/opendmarc/opendmarc.sock"


def test_infected_mail_is_refused_and_clamd_keeps_one_engine(tmp_path):
    files = _render(tmp_path, features={"virus_scan": "1"})
    milter = _conf(files["clamav/clamav-milter.conf"][0])
    assert milter["MilterSocket"] == CLAMAV and milter["ClamdSocket"] == "unix:/run/clamav/clamd.ctl"
    assert (milter["OnInfected"], milter["OnClean"], milter["OnFail"]) == ("Reject", "Accept", "Accept")
    assert milter["MilterSocketGroup"] == "clamav" and milter["MilterSocketMode"] == "660"
    clamd = _conf(files["clamav/clamd.conf"][0])
    assert clamd["DatabaseDirectory"] == "/var/lib/clamav"
    assert clamd["ConcurrentDatabaseReload"] == "false"  # no second engine: memory stays at one set
    assert clamd["LocalSocket"] == "/run/clamav/clamd.ctl"
    assert "TCPSocket" not in clamd
    fresh = _conf(files["clamav/freshclam.conf"][0])
    assert fresh["TestDatabases"] == "no" and fresh["DatabaseDirectory"] == "/var/lib/clamav"
    assert fresh["NotifyClamd"] == "/etc/clamav/clamd.conf"
    for conf in (clamd, milter, fresh):
        assert "{{" not in "".join(conf.values())


def test_the_scan_limit_follows_a_smaller_message_size_limit(tmp_path):
    clamd = _conf(_render(tmp_path, features={"virus_scan": "1"})["clamav/clamd.conf"][0])
    assert clamd["StreamMaxLength"] == f"{virus.SCAN_LIMIT_MB}M"
    clamd = _conf(_render(tmp_path, features={"virus_scan": "1"}, message_size_limit="10")["clamav/clamd.conf"][0])
    assert clamd["StreamMaxLength"] == "10M"


def test_the_reload_starts_clamd_only_with_signatures_and_waits_for_them_otherwise(tmp_path):
    reload = _render(tmp_path, features={"virus_scan": "1"})["container/reload"][0]
    block = reload[reload.index("# features.virus_scan:"):]
    helper = "/usr/local/sbin/secumail-clamav"
    assert block.index(f'/secumail-clamav" {helper} 0755') < block.index(f"if {helper} signatures")
    assert block.index("launch freshclam -d") < block.index("launch clamd") < block.index(f"launch {helper} milter")
    assert f'setsid {helper} wait "$DATA"' in block  # the waiter runs the live reload again
    assert "sleep 30" not in block
    # before Postfix (re)loads: postfix joins group clamav first
    assert reload.index("usermod -a -G clamav postfix") < reload.index("postfix reload")


def _helper(tmp_path, short: str) -> str:
    """The rendered secumail-clamav, its container paths moved under `short` (a unix socket path is short)."""
    text, mode = _render(tmp_path, features={"virus_scan": "1"})["clamav/secumail-clamav"]
    assert mode == 0o755 and "{{" not in text
    path = os.path.join(short, "secumail-clamav")
    with open(path, "w") as handle:
        handle.write(text.replace("/var/lib/clamav", f"{short}/lib").replace("/run/clamav", f"{short}/run"))
    for name in ("lib", "run", "bin"):
        os.mkdir(os.path.join(short, name))
    # a clamav-milter that says it ran
    milter = os.path.join(short, "bin", "clamav-milter")
    with open(milter, "w") as handle:
        handle.write(f'#!/bin/sh\necho "$@" >{short}/milter-ran\n')
    os.chmod(milter, 0o700)
    return path


def _run(helper: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{os.path.dirname(helper)}/bin:{os.environ['PATH']}"}
    return subprocess.run(["sh", helper, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _clamd(socket_path: str, answer_after: float) -> threading.Thread:
    """A clamd that accepts at once but answers PING only after `answer_after` s (loading its signatures)."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(socket_path)
    server.listen(8)
    started = time.monotonic()

    def serve() -> None:
        with server:
            server.settimeout(30)
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    if conn.recv(16) == b"zPING\0" and time.monotonic() - started >= answer_after:
                        conn.sendall(b"PONG\0")
                        return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def short():
    with tempfile.TemporaryDirectory(prefix="smclam") as path:
        yield path


def test_the_helper_sees_signature_files_and_nothing_else(tmp_path, short):
    helper = _helper(tmp_path, short)
    for name in ("mirrors.dat", "freshclam.dat"):
        open(os.path.join(short, "lib", name), "w").close()
    assert _run(helper, "signatures").returncode == 1
    open(os.path.join(short, "lib", "secumail-test.ndb"), "w").close()
    assert _run(helper, "signatures").returncode == 0


def test_the_milter_starts_within_a_second_or_two_of_clamd_answering(tmp_path, short):
    helper = _helper(tmp_path, short)
    thread = _clamd(os.path.join(short, "run", "clamd.ctl"), answer_after=2)
    t0 = time.monotonic()
    out = _run(helper, "milter")
    took = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    with open(os.path.join(short, "milter-ran")) as handle:
        assert handle.read().strip() == "--config-file=/etc/clamav/clamav-milter.conf"
    assert 2 <= took < 5, took  # polled every second, not every 30 s
    thread.join(5)


def test_the_milter_is_not_started_when_clamd_never_answers(tmp_path, short):
    helper = _helper(tmp_path, short)
    with open(helper) as handle:
        text = handle.read()
    with open(helper, "w") as handle:  # the same loop, bounded at 2 s instead of a minute
        handle.write(text.replace(str(virus.CLAMD_PING_WAIT_S), "2"))
    out = _run(helper, "milter")
    assert out.returncode == 1
    assert out.stderr.strip() == f"clamd did not answer PING on {short}/run/clamd.ctl in 2 s: clamav-milter not started"
    assert not os.path.exists(os.path.join(short, "milter-ran"))


def test_the_waiter_runs_the_live_reload_once_signatures_arrive(tmp_path, short):
    helper = _helper(tmp_path, short)
    data = os.path.join(short, "data")
    reload = os.path.join(data, "config", "live", "container", "reload")
    os.makedirs(os.path.dirname(reload))
    with open(reload, "w") as handle:
        handle.write(f"#!/bin/sh\ntouch {short}/reloaded\n")
    os.chmod(reload, 0o700)
    waiter = subprocess.Popen(["sh", helper, "wait", data])
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(os.path.join(short, "run", "wait.pid")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        assert waiter.poll() is None and not os.path.exists(os.path.join(short, "reloaded"))
        open(os.path.join(short, "lib", "daily.cld"), "w").close()
        t0 = time.monotonic()
        assert waiter.wait(10) == 0
        assert time.monotonic() - t0 <= virus.SIGNATURE_POLL_S + 1
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert os.path.exists(os.path.join(short, "reloaded"))
    assert not os.path.exists(os.path.join(short, "run", "wait.pid"))


def test_signature_files_are_recognised():
    assert virus.has_signatures(["daily.cld", "main.cvd"])
    assert virus.has_signatures(["test.ndb"])
    assert not virus.has_signatures(["freshclam.dat", "README", "mirrors.dat"])
