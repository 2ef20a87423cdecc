"""LuCI's charts (`getCharts`): messages per hour and per day, the queue, and each mailbox against its quota.

The series come from the hourly ring (secumail.appliance.hourly) that the log counters feed
(secumail.appliance.metrics.count_logs); the counters are brought up to date first, so the current
hour includes what the logs say now. secumaild calls `sample` every few minutes to keep the hours
coming and the queue sampled while nobody looks.
"""

from __future__ import annotations

import os
import time
from typing import Any

from secumail.config.settings import Settings
from secumail.errors import SecumailError

SAMPLE_INTERVAL = 300.0


def _queue(settings: Settings) -> int | None:
    from secumail.appliance.status import queue_size

    spool = settings.layout.spool
    return queue_size(spool) if os.path.isdir(spool) else None


def sample(settings: Settings) -> dict[str, Any]:
    """Count the logs into the current hour and sample the queue (secumaild's timer `charts`)."""
    from secumail.appliance.metrics import count_logs

    queue = _queue(settings)
    totals = count_logs(settings, queue=queue)
    return {"totals": totals, "queue": queue}


def collect(settings: Settings) -> dict[str, Any]:
    """The last 24 hours, the last 30 days, the queue now, and storage per mailbox."""
    from secumail.appliance import hourly
    from secumail.appliance.metrics import read_hours

    counted = True
    try:
        queue = sample(settings)["queue"]
    except SecumailError:  # the charts still show what was recorded
        counted = False
        queue = _queue(settings)
    ring = read_hours(settings.layout.metrics_hours)
    now = time.time()
    return {
        "now": int(now),
        "counted": counted,
        "series": list(hourly.COUNTS),
        "hours": hourly.hours(ring, now, 24),
        "days": hourly.days(ring, now, 30),
        "queue": queue,
        "mailboxes": _mailboxes(settings),
    }


def _mailboxes(settings: Settings) -> list[dict[str, Any]]:
    from secumail.mail.accounts import user_list

    try:
        users = user_list(settings)
    except (SecumailError, OSError):
        return []
    return [{"address": u["address"], "usage_bytes": u["usage_bytes"], "quota_bytes": u["quota_bytes"]}
            for u in users]  # fmt: skip
