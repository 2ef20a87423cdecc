"""A mail client for the mail tests: send on port 25, find a message over IMAPS by its token."""

from __future__ import annotations

import smtplib
import uuid

from tests.integration.mail.world import PASSWORDS
from tests.support.imapclient import imap_wait

HELO = "client.outside.test"


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
    return imap_wait(ip, user=user, password=PASSWORDS[user], token=token, folder=folder, timeout=timeout)
