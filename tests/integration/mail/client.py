"""A mail client for the mail tests: send on port 25, find a message over IMAPS by its token."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
import uuid

from tests.integration.mail.world import PASSWORDS

HELO = "client.outside.test"


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the install-time self-signed certificate
    return ctx


def make_message(to: str, sender: str = "someone@outside.test", size: int = 0) -> tuple[str, str]:
    token = uuid.uuid4().hex
    body = f"token {token}\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    msg = f"From: {sender}\r\nTo: {to}\r\nSubject: test {token}\r\nMessage-ID: <{token}@outside.test>\r\n\r\n{body}"
    return token, msg


def send25(ip: str, rcpt: str, sender: str = "someone@outside.test", size: int = 0) -> str:
    token, msg = make_message(rcpt, sender, size)
    with smtplib.SMTP(ip, 25, local_hostname=HELO, timeout=20) as smtp:
        smtp.sendmail(sender, [rcpt], msg)
    return token


def imap_find(ip: str, user: str, token: str, timeout: float = 20, folder: str = "INBOX") -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL(ip, 993, ssl_context=tls_context(), timeout=10) as imap:
            imap.login(user, PASSWORDS[user])
            imap.select(folder, readonly=True)
            _, found = imap.search(None, "BODY", token)
            if found[0]:
                _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                return data[0][1]
        if time.monotonic() > deadline:
            raise AssertionError(f"message {token} did not arrive in {user}'s {folder} within {timeout} s")
        time.sleep(0.3)
