"""getCharts: the log lines counted land in the current hour, the queue is sampled from the spool, and
each mailbox comes with its usage and quota; the ring file stays one fixed size across processes."""

from __future__ import annotations

import os
import time

import pytest

from secumail.appliance import charts, hourly
from secumail.mail import accounts
from tests.support.settings import make_settings

P = "Dec  6 03:00:01 mail "


def _message(n: int) -> str:
    qid = f"5CD{n:04d}EF"
    return (f"{P}postfix/smtpd[812]: {qid}: client=unknown[198.51.100.20]\n"
            f"{P}postfix/lmtp[301]: {qid}: to=<alice@a.test>, relay=x[private/dovecot-lmtp], delay=0.1, "
            f"dsn=2.0.0, status=sent (250 2.0.0 Saved)\n"
            f"{P}postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[198.51.100.9]: 550 5.1.1 "
            f"<nobody@a.test>: Recipient address rejected: User unknown; "
            f"from=<x@y.test> to=<nobody@a.test>\n")  # fmt: skip


@pytest.fixture
def appliance(tmp_path):
    settings = make_settings(tmp_path / "data", container={"lxc_path": str(tmp_path / "lxc")},
                             features={"fail2ban": False})  # fmt: skip
    logs = tmp_path / "lxc" / settings.main.container / "rootfs" / "var" / "log"
    logs.mkdir(parents=True)
    return settings, logs / "mail.log"


def test_the_current_hour_says_what_the_logs_counted(appliance):
    settings, log = appliance
    log.write_text(_message(0) + _message(1))
    first = charts.collect(settings)
    assert first["counted"] and len(first["hours"]) == 24 and len(first["days"]) == 30
    now = first["hours"][-1]
    assert now["start"] == int(time.time() // 3600) * 3600
    assert (now["received"], now["sent"], now["rejected"]) == (2, 2, 2)
    assert first["hours"][0]["received"] is None  # before the first count: no data, not zero
    assert first["days"][-1]["received"] == 2

    with open(log, "a", encoding="utf-8") as handle:
        handle.write(_message(2))
    again = charts.collect(settings)  # a new call, as another process: the ring file carries it
    assert again["hours"][-1]["received"] == 3
    assert os.path.getsize(settings.layout.metrics_hours) == hourly.SIZE
    assert os.stat(settings.layout.metrics_hours).st_mode & 0o777 == 0o600


def test_the_queue_is_sampled_from_the_spool_and_mailboxes_come_with_their_quota(appliance):
    settings, log = appliance
    log.write_text("")
    deferred = os.path.join(settings.layout.spool, "deferred", "A")
    os.makedirs(deferred)
    for name in ("A1B2C3", "A4B5C6"):
        open(os.path.join(deferred, name), "w").close()
    accounts.user_add(settings, "alice@" + settings.main.domain, "a long password 1", quota="10M")
    result = charts.sample(settings)
    assert result["queue"] == 2
    data = charts.collect(settings)
    assert data["queue"] == 2 and data["hours"][-1]["queue"] == 2
    assert data["mailboxes"] == [{"address": "alice@" + settings.main.domain, "usage_bytes": 0,
                                  "quota_bytes": 10 * 1024 * 1024}]  # fmt: skip
