"""A mail user on the simulated internet: submit with authentication, read back over IMAPS."""

from __future__ import annotations

import smtplib
import uuid

from tests.support.imapclient import imap_wait, tls_context
from tests.support.internet import PASSWORD, Site


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
    return imap_wait(site.wan_ip, user=user, password=PASSWORD, token=token, folder=folder, timeout=timeout, poll=0.5)



def submit_raw(site: Site, sender: str, rcpt: str, message: bytes) -> None:
    """Send a ready message through `site`'s submission port as `sender` (who logs in)."""
    with smtplib.SMTP(site.wan_ip, 587, local_hostname="laptop.example", timeout=60) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login(sender, PASSWORD)
        smtp.sendmail(sender, [rcpt], message)
