"""fail2ban reads what the real Postfix and Dovecot write: a failed login names the client's address,
and a user name or HELO that imitates a log field names nothing."""

from __future__ import annotations

import imaplib
import os
import smtplib
import time

import pytest

from secumail.mail.fail2ban import Failure, parse_line
from tests.support.imapclient import tls_context

pytestmark = pytest.mark.integration

# Dovecot 2.3.19 logs it verbatim: "... user=<x>, method=PLAIN, rip=192.0.2.66, lip=192.0.2.67, TLS,
# session=<y>, method=PLAIN, rip=<the client>, lip=..., TLS, session=<...>"
FORGED_USER = "x>, method=PLAIN, rip=192.0.2.66, lip=192.0.2.67, TLS, session=<y"
FORGED_HELO = "postfix/smtpd[1]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed"


def _lines(path: str, *needles: str, timeout: float = 10) -> list[str]:
    """The lines of `path` holding every needle (waiting for the first one to be written)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, errors="replace") as handle:
            found = [line.rstrip("\n") for line in handle if all(n in line for n in needles)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_failed_imap_login_with_a_forged_rip_names_the_real_client(mailworld):
    host = mailworld.lxc.host_ip
    tag = f"f2b{time.monotonic_ns() % 10**9}"
    with imaplib.IMAP4_SSL(mailworld.ip, 993, ssl_context=tls_context()) as imap, pytest.raises(imaplib.IMAP4.error):
        imap.login(f'"{tag}{FORGED_USER}"', "wrong-password")  # imaplib sends the user name unquoted
    lines = _lines(os.path.join(mailworld.lxc.rootfs, "var/log/dovecot.log"), tag, "auth failed")
    with open(os.path.join(mailworld.lxc.rootfs, "var/log/dovecot.log"), errors="replace") as handle:
        seen = handle.readlines()[-4:]
    assert lines, f"Dovecot logged no failed login: {seen}"
    assert [parse_line(line) for line in lines] == [Failure("dovecot", host, 1)], lines


def test_a_failed_smtp_auth_with_a_forged_helo_names_the_real_client(mailworld):
    host = mailworld.lxc.host_ip
    with smtplib.SMTP(mailworld.ip, 587, local_hostname="mail.example", timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.ehlo(FORGED_HELO.replace(" ", "_"))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("nobody-f2b@example.org", "wrong-password")
    lines = _lines(os.path.join(mailworld.lxc.rootfs, "var/log/mail.log"), "authentication failed")
    assert lines, "Postfix logged no failed AUTH"
    failures = {parse_line(line) for line in lines} - {None}
    assert failures == {Failure("postfix", host, 1)}, lines[-3:]
