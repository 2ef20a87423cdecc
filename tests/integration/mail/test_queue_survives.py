"""The Postfix queue is state in data_path: a new image (even one with other uids) keeps queued mail."""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import time

import pytest

from tests.integration.mail.client import HELO, imap_find, make_message, send25
from tests.integration.mail.world import PASSWORDS
from tests.support.imapclient import tls_context

pytestmark = pytest.mark.integration
FAR = "far@away.test"  # no route out of this host: the message waits in the queue


def _queued(mailworld) -> dict[str, list[str]]:
    res = mailworld.exec(["postqueue", "-j"])
    assert res.returncode == 0, res.stderr
    items = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return {i["queue_id"]: [r["address"] for r in i["recipients"]] for i in items}


def test_queued_mail_survives_a_fresh_image_with_other_uids(mailworld):
    from secumail.container import cache

    _, msg = make_message(FAR, sender="alice@example.org")
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
        smtp.sendmail("alice@example.org", [FAR], msg)
    deadline = time.monotonic() + 10
    while not [q for q, rcpts in _queued(mailworld).items() if rcpts == [FAR]]:
        assert time.monotonic() < deadline, "the message to an outside domain is not in the queue"
        time.sleep(0.2)
    waiting = {q for q, rcpts in _queued(mailworld).items() if rcpts == [FAR]}
    assert os.listdir(os.path.join(mailworld.data, "spool", "deferred")), "the queue is not in data_path"

    lxc = mailworld.lxc
    lxc.container.stop()
    shutil.rmtree(lxc.rootfs)
    # a fresh image with its own, empty /var/spool/postfix
    cache.debian_image(lxc.cache_dir, lxc.rootfs, idmap=lxc.spec.idmap)
    spool = os.path.join(mailworld.data, "spool")
    other = (lxc.spec.idmap.uid(4321), lxc.spec.idmap.gid(4321))  # as if postfix had another uid inside
    for sub in ("active", "deferred", "defer", "incoming", "private", "saved"):
        for root, dirs, files in os.walk(os.path.join(spool, sub)):
            for path in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(path, *other)
    lxc.container.start()
    res = lxc.container.exec(["/srv/mailserver/config/live/container/start"])
    assert res.returncode == 0, res.stderr
    lxc.wait_port(25, timeout=20)
    lxc.wait_port(143, timeout=20)

    assert waiting <= set(_queued(mailworld)), "queued mail was lost with the image"
    check = mailworld.exec(["postfix", "check"])
    assert check.returncode == 0 and not check.stderr.strip(), check.stderr
    assert os.stat(os.path.join(spool, "deferred")).st_uid != other[0]  # handed to this image's postfix
    token = send25(mailworld.ip, "carol@example.net")  # and the server works on the kept queue dirs
    imap_find(mailworld.ip, "carol@example.net", token)
    assert mailworld.exec(["postqueue", "-f"]).returncode == 0  # qmgr can read the kept messages
    time.sleep(1)
    log = mailworld.exec(["tail", "-n", "40", "/var/log/mail.log"]).stdout
    assert "Permission denied" not in log and "warning" not in log.lower(), log
