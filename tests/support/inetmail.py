"""A mail user on the simulated internet: submit with authentication, read back over IMAPS."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
import uuid

from tests.support.internet import PASSWORD, Site


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the install-time self-signed certificate
    return ctx


def submit(site: Site, sender: str, rcpt: str) -> str:
    """Send through `site`'s submission port (587, STARTTLS, AUTH) at its WAN address; the token."""
    token = uuid.uuid4().hex
    msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: hello {token}\r\n"
           f"Message-ID: <{token}@{sender.rpartition('@')[2]}>\r\n\r\ntoken {token}\r\n")  # fmt: skip
    with smtplib.SMTP(site.wan_ip, 587, local_hostname="laptop.example", timeout=30) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login(sender, PASSWORD)
        smtp.sendmail(sender, [rcpt], msg)
    return token


def fetch(site: Site, user: str, token: str, timeout: float = 60, folder: str = "INBOX") -> bytes:
    """The message carrying `token` from `user`'s folder on `site` (IMAPS at its WAN address)."""
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL(site.wan_ip, 993, ssl_context=tls_context(), timeout=15) as imap:
            imap.login(user, PASSWORD)
            imap.select(folder, readonly=True)
            _, found = imap.search(None, "BODY", token)
            if found[0]:
                _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                return data[0][1]
        if time.monotonic() > deadline:
            raise AssertionError(f"message {token} did not reach {user}'s {folder} within {timeout} s")
        time.sleep(0.5)
