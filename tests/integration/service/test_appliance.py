"""The appliance as a user drives it: mailctl install, user add, test, logs, queue, stop/start, image.

Runs mailctl as a subprocess against its own UCI config, bridge and subnet, and the shared image cache
(appliance.py), so the first command of the README is exercised end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time

import pytest

from tests.integration.service.appliance import Appliance, appliance_world

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-appliance-test"
NAME, BRIDGE, SUBNET = "smappl", "smappl0", "10.234.0"
APPLIANCE = Appliance(WORK, NAME, BRIDGE, SUBNET)
mailctl = APPLIANCE.mailctl
_attach = APPLIANCE.attach
_init_pid = APPLIANCE.init_pid


@pytest.fixture(scope="module")
def appliance():
    with appliance_world(APPLIANCE) as world:
        yield world.ip


def test_install_brings_up_a_working_server_twice_without_losing_anything(appliance):
    first = mailctl("--json", "install")
    result = json.loads(first.stdout)
    assert result["result"] == "ok" and result["container"] == "RUNNING", result
    assert "starting container" in first.stderr  # progress is shown, on stderr
    assert mailctl("config", "get", "mailserver.main.enabled").stdout == "1\n"

    mailctl("user", "add", "alice@appliance.test", "--password-stdin", stdin="alice-pass\n")
    sent = json.loads(mailctl("--json", "test", "alice@appliance.test").stdout)
    assert sent["status"] == "sent" and sent["queue_id"], sent
    maildir = f"{WORK}/data/mail/appliance.test/alice/new"
    assert len(os.listdir(maildir)) == 1

    status = json.loads(mailctl("--json", "status").stdout)
    assert status["container"]["state"] == "RUNNING"

    again = json.loads(mailctl("--json", "install").stdout)
    assert again["image"] == "present" and again["container"] == "RUNNING"
    assert len(os.listdir(maildir)) == 1, "a second install lost mail"
    users = json.loads(mailctl("--json", "user", "list").stdout)
    assert [u["address"] for u in users] == ["alice@appliance.test"]


def _nft_table() -> bool:
    listed = subprocess.run(["nft", "list", "table", "inet", f"secumail_in_{BRIDGE}"], capture_output=True)
    return listed.returncode == 0


def test_the_installed_container_is_unprivileged_and_sees_only_mail_data(appliance):
    from secumail.container import idmap

    mapping = idmap.for_root(write=False)
    with open(f"/proc/{_init_pid()}/uid_map") as handle:
        assert handle.read().split() == ["0", str(mapping.uid_base), "65536"]
    for sub in ("mesh", "backup"):
        os.makedirs(f"{WORK}/data/{sub}", exist_ok=True)
        with open(f"{WORK}/data/{sub}/secret", "w") as handle:
            handle.write("x")
    listing = _attach("ls", "-A", "/srv/mailserver").stdout.split()
    assert sorted(listing) == ["autoconfig", "config", "dav", "dkim", "home", "mail", "mta-sts", "relay",
                               "ssl"], listing
    assert _attach("ls", "-A", "/srv/mailserver/ssl/acme").stdout == ""
    assert _nft_table(), "the mail zone's input policy is missing"


def test_logs_show_the_delivery(appliance):
    lines = json.loads(mailctl("--json", "logs", "200").stdout)
    assert any("status=sent" in line for line in lines), lines[-10:]
    text = mailctl("logs", "5").stdout
    assert len(text.splitlines()) == 5


def test_queue_commands(appliance):
    assert json.loads(mailctl("--json", "queue", "list").stdout) == []
    bad = mailctl("queue", "delete", "../x", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    missing = mailctl("queue", "delete", "ABCDEF123", check=False)
    assert missing.returncode == 2 and "no queued message" in missing.stderr
    # Mail to an outside domain cannot leave this test host: it waits in the queue.
    out = mailctl("--json", "test", "someone@outside.test", "--wait", "3", check=False)
    assert out.returncode == 1 and json.loads(out.stdout)["status"] in ("queued", "deferred")
    queued = json.loads(mailctl("--json", "queue", "list").stdout)
    assert [q["recipients"] for q in queued] == [["someone@outside.test"]]
    assert json.loads(mailctl("--json", "queue", "delete-all").stdout)["deleted"] == 1
    assert json.loads(mailctl("--json", "queue", "list").stdout) == []


def test_stop_and_start(appliance):
    stopped = json.loads(mailctl("--json", "stop").stdout)
    assert stopped["container"] == "STOPPED"
    assert not _nft_table(), "stop left the input policy table behind"
    # An install from before the id map: the image and the data owned by the ids as seen inside.
    rootfs = f"{WORK}/lxc/{NAME}/rootfs"
    os.unlink(rootfs + ".idmap")
    os.lchown(f"{rootfs}/etc/passwd", 0, 0)
    os.lchown(f"{WORK}/data/mail", 5000, 5000)
    os.lchown(f"{WORK}/data/ssl/privkey.pem", 0, 0)
    assert mailctl("config", "get", "mailserver.main.enabled").stdout == "0\n"
    off = mailctl("queue", "list", check=False)
    assert off.returncode == 1 and "not running" in off.stderr
    began = time.monotonic()
    started = json.loads(mailctl("--json", "start").stdout)
    assert started["container"] == "RUNNING"
    assert time.monotonic() - began < 10
    # The ≤ 3 s cold-start goal is the bench's (bench/RESULTS.md); here, under the suite's load, the start
    # only has to be a start and not a rebuild.
    assert started["banner_seconds"] < 10, started
    assert _nft_table()
    base = os.stat(rootfs).st_uid
    assert base >= 65536 and os.stat(f"{rootfs}/etc/passwd").st_uid == base, "the old image was not migrated"
    assert os.stat(f"{WORK}/data/mail").st_uid == base + 5000 and os.stat(f"{WORK}/data/ssl/privkey.pem").st_uid == base
    # Every service is back, not just Postfix (a restart once left Dovecot down: no PATH in the init hook).
    deadline = time.monotonic() + 10
    while True:
        services = json.loads(mailctl("--json", "status").stdout)["services"]
        if all(services.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert services and all(services.values()), services


def test_image_export_leaves_state_out_and_import_needs_a_stopped_server(appliance):
    tarball = f"{WORK}/image.tar.gz"
    exported = json.loads(mailctl("--json", "image", "export", tarball, timeout=600).stdout)
    assert exported["bytes"] > 10_000_000
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert max(m.uid for m in members) < 65536  # the ids as inside: another router shifts to its own map
    assert "./usr/sbin/postfix" in names and "./var/log" in names
    state = [m.name for m in members if m.isfile() and m.name.startswith(("./var/log/", "./var/spool/postfix/"))]
    assert state == [], state[:5]
    refused = mailctl("image", "import", tarball, check=False)
    assert refused.returncode == 1 and "stop the mail server first" in refused.stderr
    # The queue is in data_path (data/spool on /var/spool/postfix): a new image keeps waiting mail.
    mailctl("test", "someone@outside.test", "--wait", "1", check=False)
    waiting = [q["queue_id"] for q in json.loads(mailctl("--json", "queue", "list").stdout)]
    assert len(waiting) == 1
    mailctl("stop")
    mailctl("image", "import", tarball, timeout=600)
    started = json.loads(mailctl("--json", "start").stdout)
    assert started["container"] == "RUNNING"
    maildir = f"{WORK}/data/mail/appliance.test/alice/new"
    assert len(os.listdir(maildir)) == 1
    kept = json.loads(mailctl("--json", "queue", "list").stdout)
    assert [(q["queue_id"], q["recipients"]) for q in kept] == [(waiting[0], ["someone@outside.test"])]
