"""Log rotation in the running container: the services write to fresh files, nothing is lost."""

from __future__ import annotations

import imaplib
import os
import time

import pytest

from secumail.mail import logrotate
from tests.integration.mail.client import imap_find, send25
from tests.support.imapclient import tls_context

pytestmark = pytest.mark.integration


def _read(path: str) -> str:
    with open(path, errors="replace") as handle:
        return handle.read()


def test_rotation_makes_postfix_and_dovecot_write_new_files(mailworld):
    logs = os.path.join(mailworld.lxc.rootfs, "var/log")
    assert logrotate.rotate(mailworld.lxc.rootfs, 1, mailworld.lxc.container) == [
        "var/log/mail.log", "var/log/dovecot.log"]
    token = send25(mailworld.ip, "alice@example.org")
    imap_find(mailworld.ip, "alice@example.org", token)
    stranger = f"nobody-{token}@example.org"  # a failed login: Dovecot logs the user name
    with imaplib.IMAP4_SSL(mailworld.ip, 993, ssl_context=tls_context()) as imap, pytest.raises(imaplib.IMAP4.error):
        imap.login(stranger, "wrong")
    deadline = time.monotonic() + 10
    while stranger not in _read(os.path.join(logs, "dovecot.log")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert token in _read(os.path.join(logs, "mail.log"))  # the message-id line, in the new file
    assert f"user=<{stranger}>" in _read(os.path.join(logs, "dovecot.log"))
    # The rotated files got none of it (a reload line may still land there: that is fine).
    assert token not in _read(os.path.join(logs, "mail.log.1"))
    assert stranger not in _read(os.path.join(logs, "dovecot.log.1"))
    assert sorted(n for n in os.listdir(logs) if n.startswith(("mail.log", "dovecot.log"))) == [
        "dovecot.log", "dovecot.log.1", "mail.log", "mail.log.1"]
