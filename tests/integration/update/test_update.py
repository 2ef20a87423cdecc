"""`mailctl update` on a real appliance while mail flows in from the host, a broken image, --rollback.

World: container `smupd` on bridge `smupd0` (10.249.0.1 host, .2 container; the candidate takes the
network's highest host address), installed through secumail.appliance.lifecycle.install; everything
under /var/tmp/secumail-update-test and removed afterwards, except the shared image cache.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.lxcworld import _cleanup_stale, cache_dir, ensure_apt_packages, need_root
from tests.support.imapclient import imap_wait

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-update-test"
NAME, BRIDGE, SUBNET = "smupd", "smupd0", "10.249.0"
CT = f"{SUBNET}.2"
USER, PASSWORD = "alice@update.test", "alice-update-secret"
FIGURES = "/tmp/secumail-update-figures.json"  # read by bench/update_downtime.py

CONFIG = f"""
config mailserver 'main'
	option enabled '1'
	option domain 'update.test'
	option hostname 'mail'
	option data_path '{WORK}/data'
	option container '{NAME}'

config features 'features'
	option spam_filter '0'

config protection 'protection'
	option sender_checks '0'
	option smtp_connection_rate '0'
	option smtp_message_rate '0'

config dkim 'dkim'
	option key_bits '1024'

config container 'container'
	option lxc_path '{WORK}/lxc'
	option bridge '{BRIDGE}'
	option host_address '{SUBNET}.1/24'
	option address '{CT}/24'
"""


def mailctl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "SECUMAIL_IMAGE_CACHE": cache_dir()}
    res = subprocess.run([sys.executable, "-m", "secumail.cli", "--confdir", f"{WORK}/conf", *args], input=stdin,
                         capture_output=True, text=True, timeout=900, env=env)  # fmt: skip
    if check:
        assert res.returncode == 0, f"mailctl {' '.join(args)}: {res.stderr}"
    return res


def teardown_world() -> None:
    for name in (NAME + "-next", NAME):
        _cleanup_stale(name, f"{WORK}/lxc", BRIDGE)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    shutil.rmtree(WORK, ignore_errors=True)


@pytest.fixture(scope="module")
def world():
    need_root()
    ensure_apt_packages()
    teardown_world()
    os.makedirs(f"{WORK}/conf")
    with open(f"{WORK}/conf/mailserver", "w", encoding="utf-8") as handle:
        handle.write(CONFIG)
    try:
        first = json.loads(mailctl("--json", "install").stdout)
        assert first["container"] == "RUNNING", first
        mailctl("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
        yield
    finally:
        teardown_world()


class Sender(threading.Thread):
    """An outside MTA: a new message every 100 ms to the published SMTP port; a refused connection or a
    4xx is retried (the same message) like an MTA would; only a 250 counts as accepted."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.accepted: list[tuple[float, str]] = []
        self.retries = 0
        self.last_error = ""
        self.halted_at = 0.0
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            token = f"upd{n:05d}x{os.getpid()}"
            msg = f"From: someone@outside.test\r\nTo: {USER}\r\nSubject: flow {token}\r\n\r\ntoken {token}\r\n"
            while not self.halt.is_set():
                try:
                    with smtplib.SMTP(CT, 25, local_hostname="client.outside.test", timeout=10) as smtp:
                        smtp.sendmail("someone@outside.test", [USER], msg)
                    self.accepted.append((time.monotonic(), token))
                    break
                except (OSError, smtplib.SMTPException) as exc:
                    self.retries += 1
                    self.last_error = str(exc)
                    time.sleep(0.1)
            time.sleep(0.1)
        self.halted_at = time.monotonic()

    def longest_gap(self) -> float:
        """Seconds, the end of the run included: a sender refused until the end has a gap up to it."""
        times = [t for t, _ in self.accepted] + [self.halted_at]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def stored_tokens() -> set[str]:
    """Tokens of every message in a mailbox or in the queue (both in data_path)."""
    found: set[str] = set()
    for sub in ("mail", "spool"):
        for root, _dirs, files in os.walk(f"{WORK}/data/{sub}"):
            for name in files:
                path = os.path.join(root, name)
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                for part in data.split(b"token ")[1:]:
                    found.add(part[:30].split(b"\r")[0].split(b"\n")[0].decode(errors="replace"))
    return found


def round_trip() -> None:
    token = f"rt{time.time_ns()}"
    with smtplib.SMTP(CT, 25, local_hostname="client.outside.test", timeout=20) as smtp:
        smtp.sendmail("someone@outside.test", [USER], f"Subject: rt {token}\r\n\r\ntoken {token}\r\n")
    imap_wait(CT, user=USER, password=PASSWORD, token=token, timeout=30)


def test_update_while_mail_flows_loses_nothing(world):
    sender = Sender()
    sender.start()
    time.sleep(2)
    began = time.monotonic()
    res = mailctl("--json", "update")
    took = time.monotonic() - began
    time.sleep(2)
    sender.halt.set()
    sender.join(30)
    data = json.loads(res.stdout)
    assert data["source"] == "build" and data["self_test"]["round_trip_seconds"] > 0
    assert os.path.isdir(f"{WORK}/lxc/{NAME}/rootfs.previous/usr")
    accepted = {token for _, token in sender.accepted}
    assert len(accepted) > 50, (len(accepted), sender.retries, sender.last_error)
    deadline = time.monotonic() + 30
    while accepted - stored_tokens() and time.monotonic() < deadline:
        time.sleep(1)
    lost = accepted - stored_tokens()
    gap = sender.longest_gap()
    print(f"update: {len(accepted)} messages accepted, {len(lost)} lost, {sender.retries} retries, "
          f"longest gap between accepts {gap:.2f} s (last refusal: {sender.last_error or 'none'}), "
          f"switch {data['switch_seconds']} s, update {took:.0f} s")
    with open(FIGURES, "w", encoding="utf-8") as handle:
        json.dump({"accepted": len(accepted), "lost": len(lost), "retries": sender.retries, "longest_gap_s": gap,
                   "switch_s": data["switch_seconds"], "update_s": round(took, 1)}, handle)
    assert not lost, f"{len(lost)} accepted message(s) neither in a mailbox nor in the queue: {sorted(lost)[:5]}"
    round_trip()


def test_broken_image_leaves_the_old_one_serving(world):
    from secumail.container.provision import tarball

    good, broken = f"{WORK}/good.tar.zst", f"{WORK}/broken.tar.zst"
    mailctl("image", "export", good)
    unpacked = tarball.import_image(good, f"{WORK}/broken-rootfs")
    with open(os.path.join(unpacked, "usr/sbin/dovecot"), "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\nexit 1\n")  # Dovecot never starts: no IMAP
    tarball.export_image(unpacked, broken)
    shutil.rmtree(unpacked)
    state = f"{WORK}/data/update.json"
    before = Path(state).read_text(encoding="utf-8")
    res = mailctl("update", "--image", broken, check=False)
    assert res.returncode == 1
    refusals = [line for line in res.stderr.splitlines() if "failed its self-test" in line]
    assert len(refusals) == 1 and refusals[0] == res.stderr.strip().splitlines()[-1], res.stderr
    # Dovecot down: SASL on the submission port fails first (else the IMAP login would)
    assert "at message submission" in refusals[0] or "at IMAP login" in refusals[0], res.stderr
    assert "not touched" in refusals[0], res.stderr
    assert "Traceback" not in res.stderr
    assert Path(state).read_text(encoding="utf-8") == before
    assert not os.path.exists(f"{WORK}/lxc/{NAME}-next")
    assert not os.path.exists(f"{WORK}/lxc/{NAME}/rootfs.next")
    round_trip()


def test_rollback_returns_to_the_previous_image(world):
    marker = f"{WORK}/lxc/{NAME}/rootfs.previous/etc/secumail-rollback-marker"
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("the image before the update\n")
    res = mailctl("--json", "update", "--rollback")
    assert json.loads(res.stdout)["source"] == "rollback"
    assert os.path.exists(f"{WORK}/lxc/{NAME}/rootfs/etc/secumail-rollback-marker")
    assert not os.path.exists(f"{WORK}/lxc/{NAME}/rootfs.previous/etc/secumail-rollback-marker")
    round_trip()
