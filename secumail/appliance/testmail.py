"""A test message through the server, followed in the log until Postfix says what became of it."""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from secumail.appliance.spec import rootfs_path, running_container
from secumail.config.settings import Settings
from secumail.errors import InputError, SecumailError


def send_test(settings: Settings, address: str, wait: float = 20.0) -> dict[str, Any]:
    """Send a test message through the server (local submission inside the container), then follow the
    log until Postfix says what became of it."""
    from secumail.config.validate import email_address
    from secumail.mail.logrotate import tail_with_rotated

    try:
        recipient = email_address(address)
    except ValueError as exc:
        raise InputError(f"{address!r} {exc}") from None
    container = running_container(settings)
    token = uuid.uuid4().hex
    message_id = f"<secumail-test-{token}@{settings.main.fqdn}>"
    sender = settings.main.postmaster_address
    body = (f"From: {sender}\nTo: {recipient}\nSubject: secumail test message\nMessage-ID: {message_id}\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n\n"
            f"This is a test message sent by 'mailctl test' from {settings.main.fqdn}.\n")  # fmt: skip
    submit(settings, sender, recipient, body, what="the test message", container=container)
    maillog = os.path.join(rootfs_path(settings), "var/log/mail.log")
    queue_id, status, detail = None, "queued", ""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        text = "\n".join(tail_with_rotated(maillog, 400))
        if queue_id is None:
            found = re.search(r"\b([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): message-id="
                              + re.escape(message_id), text)  # fmt: skip
            queue_id = found.group(1) if found else None
        if queue_id:
            done = re.search(rf"{queue_id}: to=<{re.escape(recipient)}>.*? status=(\w+) \((.*)\)", text)
            if done:
                status, detail = done.group(1), done.group(2)
                if status != "deferred":
                    break
        time.sleep(0.2)
    return {"recipient": recipient, "queue_id": queue_id, "status": status, "detail": detail,
            "message_id": message_id}  # fmt: skip


def submit(settings: Settings, sender: str, recipient: str, message: str, *, what: str = "the message",
           container: Any = None) -> None:
    """Hand `message` (headers, blank line, body) to Postfix's sendmail inside the running container: local
    submission, no login, no network. `sender` is the envelope sender ("" for a notice nobody answers)."""
    container = container or running_container(settings)
    res = container.exec(["/usr/sbin/sendmail", "-i", "-f", sender or "<>", "--", recipient], input=message,
                         timeout=30)  # fmt: skip
    if res.returncode != 0:
        raise SecumailError(f"sendmail refused {what}: {(res.stderr or res.stdout).strip()}")
