"""features.virus_scan against mail from a stranger's server: EICAR is refused at SMTP time, clean mail
arrives, status and `mailctl logs` say so; a container limit below ClamAV's need is refused
(docs/protection.md).

Offline here: clamd gets a one-signature database the test writes into data_path/clamav (how a user
seeds signatures without the Internet), matching the EICAR test file."""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
import time

import pytest

from secumail.appliance import logs, ownership, status
from secumail.config.settings import SPAM_FILTER_MEMORY_MB, VIRUS_SCAN_MEMORY_MB
from secumail.mail import deploy
from tests.integration.protection.conftest import DATA, FRESH
from tests.integration.protection.test_memory import cgroup_memory, process_memory
from tests.integration.protection.test_spam_filter import PROSE, SEND, _find, _message
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Secumail.Test.EICAR"
MILTER_SOCKET = os.path.join(DATA, "spool", "clamav", "clamav-milter.ctl")  # the queue dir, host side


def _wait_for(path: str, world, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            logs = world.exec(["sh", "-c", "tail -n 20 /var/log/clamav/*.log /var/log/secumail-launch.log; "
                                           "ps aux | grep -i clam"]).stdout
            raise AssertionError(f"{path} did not appear in {timeout} s\n{logs}")
        time.sleep(0.5)


def _idle(world) -> dict:
    """Idle memory (MiB) of the container: the cgroup's anonymous memory and the PSS of its processes."""
    time.sleep(5)
    processes = process_memory(world)
    return {"anon": cgroup_memory(world)["anon"], "pss": sum(pss for _rss, pss in processes.values()) >> 10,
            "clamav": {name: pss >> 10 for name, (_rss, pss) in processes.items() if "clam" in name}}


@pytest.fixture(scope="module")
def enabled(protected):
    """The protected world with virus_scan on and no signatures yet (as on a router without the
    Internet before it is seeded); off again afterwards."""
    clamav = os.path.join(DATA, "clamav")
    seeded = os.path.join(clamav, "secumail-test.ndb")
    settings = protected.settings
    on = dataclasses.replace(settings, features=dataclasses.replace(settings.features, virus_scan=True))
    on = dataclasses.replace(on, container=dataclasses.replace(
        on.container, memory=SPAM_FILTER_MEMORY_MB + VIRUS_SCAN_MEMORY_MB))  # what 'auto' resolves to
    runtime = ownership.ContainerRuntime(on)
    world = dataclasses.replace(protected, settings=on)
    world.idle_off = _idle(protected)
    deploy.deploy(on, protected.lxc.container, hand_over=runtime.hand_over)
    try:
        yield world
    finally:
        deploy.deploy(settings, protected.lxc.container, hand_over=runtime.hand_over)
        if os.path.exists(seeded):
            os.unlink(seeded)


@pytest.fixture(scope="module")
def scanning(enabled):
    """The test signature seeded by hand into data_path/clamav (by the host's root, as a user would
    copy files there): the waiter in the container starts clamd and clamav-milter."""
    t0 = time.monotonic()
    with open(os.path.join(DATA, "clamav", "secumail-test.ndb"), "w") as handle:
        handle.write(f"{SIGNATURE}:0:*:{EICAR.encode().hex()}\n")
    _wait_for(MILTER_SOCKET, enabled, timeout=90)
    enabled.started = time.monotonic() - t0
    # The waiter's reload goes on after the milter (Postfix, then Dovecot reload, which drops logins
    # in flight): the tests start once it has ended.
    try:  # 60 s was missed once on a loaded machine: room, and what was still running if it happens again
        wait_until(lambda: "container/reload" not in enabled.exec(["ps", "-eo", "args"]).stdout, timeout=180,
                   what="the reload the waiter ran to end")
    except AssertionError as exc:
        running = enabled.exec(["sh", "-c", "ps -eo pid,etime,args; tail -n 20 /var/log/clamav/*.log "
                                              "/var/log/secumail-launch.log"]).stdout  # fmt: skip
        raise AssertionError(f"{exc}; still running:\n{running}") from None
    return enabled


def test_without_signatures_status_says_so_and_mail_still_flows(enabled):
    states = {item["name"]: item for item in status.collect_status(enabled.settings)["protection"]}
    assert states["virus scan"]["state"] == "down", states["virus scan"]
    assert states["virus scan"]["why"].startswith(f"no ClamAV signatures in {DATA}/clamav yet"), states
    assert not os.path.exists(MILTER_SOCKET)
    token = os.urandom(8).hex()
    out = _send(enabled, _message(token, PROSE))
    assert out["data"] == 250, out
    assert _find(enabled, token)[0] == "INBOX"


def _send(world, msg: str) -> dict:
    return world.outside(SEND, server=world.ip, source=FRESH, sender="friend@stranger.test",
                         rcpt="alice@example.org", msg=msg)  # fmt: skip


def _with_attachment(token: str) -> str:
    text = _message(token, PROSE)
    head, body = text.split("\r\n\r\n", 1)
    head = head.replace("Content-Type: text/plain; charset=utf-8", 'Content-Type: multipart/mixed; boundary="b1"')
    attachment = base64.b64encode(EICAR.encode()).decode()
    return (f"{head}\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            f"--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            f'filename="eicar.com"\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b1--\r\n')


def test_eicar_from_outside_is_refused_at_smtp_time(scanning):
    token = "eicar-" + os.urandom(6).hex()
    out = _send(scanning, _with_attachment(token))
    assert 500 <= out["data"] < 600, out
    assert "virus" in out["text"] and SIGNATURE in out["text"], out
    log = scanning.exec(["grep", "milter-reject", "/var/log/mail.log"]).stdout
    assert SIGNATURE in log, log[-1000:]
    with pytest.raises(AssertionError):  # never delivered
        _find(scanning, token, timeout=3)


def test_mailctl_logs_shows_what_clamav_logged(scanning):
    token = "eicar-logs-" + os.urandom(6).hex()
    out = _send(scanning, _with_attachment(token))
    assert 500 <= out["data"] < 600, out
    lines = logs.logs(scanning.settings, 2000)  # what `mailctl logs 2000` prints
    assert any(" clamav-milter: " in line and SIGNATURE in line for line in lines), lines[-30:]
    assert any(" clamd: " in line for line in lines), lines[-30:]  # clamd's own lines (its start)


def test_eicar_in_the_body_is_refused_too(scanning):
    out = _send(scanning, _message("eicar-body-" + os.urandom(6).hex(), EICAR))
    assert 500 <= out["data"] < 600 and SIGNATURE in out["text"], out


def test_clean_mail_still_arrives(scanning):
    token = os.urandom(8).hex()
    out = _send(scanning, _message(token, PROSE))
    assert out["data"] == 250, out
    folder, _ = _find(scanning, token)
    assert folder == "INBOX"


def test_status_shows_virus_scanning_on(scanning):
    states = {item["name"]: item for item in status.collect_status(scanning.settings)["protection"]}
    assert states["virus scan"]["state"] == "on", states["virus scan"]
    assert states["virus scan"]["why"].startswith("ClamAV on every SMTP port"), states["virus scan"]


def test_idle_memory_with_the_test_database(scanning):
    """What ClamAV costs with the one-signature database (the official one is not reachable here)."""
    on = _idle(scanning)
    print(f"\nidle, virus_scan off: anon {scanning.idle_off['anon']} MiB, PSS {scanning.idle_off['pss']} MiB; "
          f"on (test DB): anon {on['anon']} MiB, PSS {on['pss']} MiB, ClamAV PSS MiB {on['clamav']}; "
          f"seeded file to milter socket {scanning.started:.1f} s")
    assert "clamd" in on["clamav"] and "clamav-milter" in on["clamav"], on
    assert on["clamav"]["clamd"] < 100  # one signature: tens of MiB, not the official set's 1.2 GiB


def test_enabling_on_a_container_limit_below_the_need_is_refused_and_nothing_changes(tmp_path):
    conf = tmp_path / "config"
    conf.mkdir()
    text = ("\nconfig mailserver 'main'\n\toption data_path '/var/tmp/secumail-virus-refusal'\n"
            "\nconfig features 'features'\n\toption virus_scan '0'\n"
            "\nconfig container 'container'\n\toption memory '512'\n")
    (conf / "mailserver").write_text(text)
    env = {**os.environ, "SECUMAIL_CONFDIR": str(conf), "SECUMAIL_SAVEDIR": str(tmp_path / "save")}
    proc = subprocess.run([sys.executable, "-m", "secumail.cli", "config", "set", "mailserver.features.virus_scan",
                           "1"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and proc.stdout == ""
    need = SPAM_FILTER_MEMORY_MB + VIRUS_SCAN_MEMORY_MB
    assert proc.stderr.splitlines() == [
        f"mailctl: mailserver.container.memory: '512' MiB is too small for features.virus_scan 1: ClamAV and the "
        f"other services need {need} MiB, the limit is 512 MiB: set it to 'auto' or {need}, or set "
        f"features.virus_scan 0; nothing was saved"]
    assert (conf / "mailserver").read_text() == text
    assert not os.path.exists("/var/tmp/secumail-virus-refusal")
