"""`mailctl reports`: read the report mailboxes of this server and summarise what they hold."""

from __future__ import annotations

import datetime as dt
import errno
import os
import time
from typing import TYPE_CHECKING, Any

from secumail.mail import store
from secumail.mail.reports import maildir, message
from secumail.mail.reports.limits import DEFAULT, Limits
from secumail.mail.reports.mailboxes import report_mailboxes
from secumail.mail.reports.summary import Summary

if TYPE_CHECKING:
    from secumail.config.settings import Settings

DAYS_DEFAULT = 30  # the operation's default (secumail.appliance.operations "reports")


def collect(settings: Settings, days: int = DAYS_DEFAULT, *, now: float | None = None,
            limits: Limits = DEFAULT) -> dict[str, Any]:
    """The summary of the reports that ended within the last `days` days (docs/reports.md)."""
    now = time.time() if now is None else now
    since = int(now) - days * 86400
    accounts = store.load(settings.main.data_path, settings.main.domain)
    boxes, notes = report_mailboxes(accounts, settings.dns.dmarc_rua, settings.main.postmaster)
    summary = Summary(dt.datetime.fromtimestamp(since, dt.timezone.utc))
    refused: list[str] = []
    shown_boxes = []
    layout = settings.layout
    deadline = time.monotonic() + limits.seconds
    for box in boxes:
        local, _, domain = box.address.rpartition("@")
        read = 0
        try:
            fd = maildir.open_maildir(layout.mail, domain, local)
        except OSError as exc:
            path = layout.maildir(domain, local)
            notes.append(f"{box.address}: no Maildir yet ({path}), nothing received" if exc.errno == errno.ENOENT
                         else f"{box.address}: Maildir {path} not read ({exc.strerror or exc}; links are not followed)")
            shown_boxes.append({"address": box.address, "domains": box.domains, "messages": 0, "reports": 0})
            continue
        try:
            files = sorted(maildir.list_messages(fd, since), key=lambda m: (-m.mtime, m.name))
            if len(files) > limits.messages:
                notes.append(f"{box.address}: {len(files)} messages in the window, only the newest "
                             f"{limits.messages} were read")
                files = files[: limits.messages]
            counted = 0
            for n, item in enumerate(files):
                if time.monotonic() > deadline:
                    notes.append(f"{box.address}: stopped after {limits.seconds:g} s, {len(files) - n} older "
                                 "message(s) not read (ask for fewer --days)")
                    break
                lines, added = _one(fd, item, summary, limits)
                read += 1
                counted += added
                refused.extend(f"{box.address} {item.shown}: {line}" for line in lines)
        finally:
            os.close(fd)
        shown_boxes.append({"address": box.address, "domains": box.domains, "messages": read, "reports": counted})
    return {
        "days": days,
        "since": dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "mailboxes": shown_boxes,
        **summary.data(),
        "notes": notes,
        "refused": refused,
    }


def _one(fd: int, item: maildir.MessageFile, summary: Summary, limits: Limits) -> tuple[list[str], int]:
    """Refusal lines and reports counted for one message file."""
    if item.size > limits.message:
        return [f"message of {item.size} bytes skipped (limit {limits.message})"], 0
    try:
        data = maildir.read_message(fd, item, limits.message)
    except OSError as exc:
        return [f"unreadable ({exc.strerror or exc})"], 0
    if len(data) > limits.message:
        return [f"message grew past {limits.message} bytes while read, skipped"], 0
    found = message.read_message(data, limits)
    return found.refused, sum(1 for report in found.reports if summary.add(report))
