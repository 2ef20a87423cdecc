"""The self-test of a mail container before it takes over: config checks, SMTP banner, a message
submitted and read back over IMAP by a test account.

Each step raises SelfTestFailed naming the step, so `mailctl update` can say in one line why the
new image was refused.
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
import uuid
from typing import Any, Callable

from secumail.errors import SecumailError
from secumail.system.banner import wait_for_greeting

Progress = Callable[[str], None]
SELFTEST_USER = "secumail-selftest"  # local part of the test account (it exists only in the candidate)


class SelfTestFailed(SecumailError):
    """A named self-test step failed."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # the certificate may be self-signed or for another name
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


def wait_banner(address: str, port: int, timeout: float) -> float:
    """Seconds until an SMTP banner ('220') is read from address:port."""
    try:
        return wait_for_greeting(address, port, timeout=timeout)
    except TimeoutError as exc:
        raise SelfTestFailed("SMTP banner", f"none from {address}:{port} within {timeout:.0f} s ({exc})") from None


def check_config(executor: Any, gen_path: str, *, dkim: bool, spam: bool, dmarc: bool) -> None:
    from secumail.mail import deploy

    try:
        deploy.check(executor, gen_path, dkim, spam, dmarc)
    except SecumailError as exc:
        raise SelfTestFailed("config check", str(exc).replace("; running config unchanged", "")) from None


def round_trip(address: str, *, user: str, password: str, ports: tuple[int, int], timeout: float = 30.0) -> float:
    """Submit a message to `user` (as `user`, on the submission port with STARTTLS) and find it in the
    INBOX over IMAP with STARTTLS; seconds taken."""
    submission, imap = ports
    token = uuid.uuid4().hex
    message = (f"From: {user}\r\nTo: {user}\r\nSubject: secumail self-test {token}\r\n"
               f"Message-ID: <{token}@selftest.invalid>\r\n\r\nself-test {token}\r\n")  # fmt: skip
    began = time.monotonic()
    try:
        with smtplib.SMTP(address, submission, timeout=15) as smtp:
            smtp.starttls(context=_context())
            smtp.login(user, password)
            smtp.sendmail(user, [user], message)
    except (OSError, smtplib.SMTPException) as exc:
        raise SelfTestFailed("message submission", f"{address}:{submission}: {_one_line(exc)}") from None
    try:
        with imaplib.IMAP4(address, imap, timeout=15) as client:
            client.starttls(ssl_context=_context())
            client.login(user, password)
            while True:
                client.select("INBOX")
                _typ, data = client.search(None, "SUBJECT", f'"{token}"')
                if data and data[0]:
                    return time.monotonic() - began
                if time.monotonic() - began > timeout:
                    raise SelfTestFailed("message delivery", f"not in the test account's INBOX within {timeout:.0f} s")
                time.sleep(0.3)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SelfTestFailed("IMAP login", f"{address}:{imap}: {_one_line(exc)}") from None


def run(executor: Any, address: str, *, gen_path: str, features: dict[str, bool], account: tuple[str, str],
        ports: tuple[int, int, int], progress: Progress) -> dict[str, float]:
    """Every step against the container `executor` at `address`; ports = (smtp, submission, imap)."""
    smtp, submission, imap = ports
    progress(f"self-test: SMTP banner from {address}:{smtp}")
    banner = wait_banner(address, smtp, timeout=60)
    progress("self-test: config checks inside the new container")
    check_config(executor, gen_path, dkim=features["dkim"], spam=features["spam"], dmarc=features["dmarc"])
    progress(f"self-test: a message through, read back by IMAP login of {account[0]}")
    took = round_trip(address, user=account[0], password=account[1], ports=(submission, imap))
    return {"banner_seconds": round(banner, 2), "round_trip_seconds": round(took, 2)}
