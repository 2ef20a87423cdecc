"""Quotas as a user lives them: a warning at 80 %, then a full mailbox defers or bounces as configured.

tiny@example.org has a 1 MiB quota and is used by these tests only, in this order.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from tests.integration.mail.client import imap_find, send25

pytestmark = pytest.mark.integration
TINY = "tiny@example.org"


def _with_quota_full(settings, mode: str):
    return dataclasses.replace(settings, main=dataclasses.replace(settings.main, quota_full=mode))


def _queue(mailworld) -> list[dict]:
    """Queued messages for tiny@ (other tests leave mail for outside domains waiting)."""
    res = mailworld.exec(["postqueue", "-j"])
    assert res.returncode == 0, res.stderr
    entries = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return [e for e in entries if any(r["address"] == TINY for r in e["recipients"])]


def _wait(what: str, probe, timeout: float = 20, mailworld=None):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            log = mailworld.exec(["tail", "-n", "15", "/var/log/mail.log"]).stdout if mailworld else ""
            raise AssertionError(f"{what} within {timeout} s; mail.log ends:\n{log}")
        time.sleep(0.3)


def test_1_a_warning_reaches_the_user_at_80_percent(mailworld):
    token = send25(mailworld.ip, TINY, size=850_000)  # ~81 % of 1 MiB
    imap_find(mailworld.ip, TINY, token)
    warning = imap_find(mailworld.ip, TINY, '"80% full"')
    assert b"Subject: Your mailbox is 80% full" in warning
    assert b"is returned to its senders" in warning  # says what the default (bounce) does


def test_2_defer_keeps_the_message_queued_with_a_4xx_reason(mailworld):
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import deploy

    deploy.deploy(_with_quota_full(mailworld.settings, "defer"), mailworld.lxc.container,
                  hand_over=ContainerRuntime(mailworld.settings).hand_over)
    token = send25(mailworld.ip, TINY, sender="alice@example.org", size=400_000)  # past quota + 10 % grace

    def deferred():
        return [q for q in _queue(mailworld)  # 'active' with a reason for a moment, then 'deferred'
                if q["queue_name"] == "deferred" and all(r.get("delay_reason") for r in q["recipients"])]

    queued = _wait("the over-quota message was not deferred", deferred, mailworld=mailworld)
    assert len(queued) == 1 and queued[0]["queue_name"] == "deferred", queued
    reason = queued[0]["recipients"][0]["delay_reason"]
    assert " 452 4.2.2 " in reason and "Quota exceeded" in reason, reason
    with pytest.raises(AssertionError):
        imap_find(mailworld.ip, TINY, token, timeout=0.5)
    test_2_defer_keeps_the_message_queued_with_a_4xx_reason.token = token


def test_3_bounce_returns_the_queued_message_to_its_sender(mailworld):
    """Back to the default: the retried message is refused for good and alice gets the DSN."""
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import deploy

    deploy.deploy(mailworld.settings, mailworld.lxc.container,
                  hand_over=ContainerRuntime(mailworld.settings).hand_over)  # first: later tests need the default back
    token = getattr(test_2_defer_keeps_the_message_queued_with_a_4xx_reason, "token", None)
    if token is None:
        pytest.skip("needs the deferred message of test_2")
    assert mailworld.exec(["postqueue", "-f"]).returncode == 0
    _wait("the deferred message did not leave the queue", lambda: not _queue(mailworld), mailworld=mailworld)
    dsn = imap_find(mailworld.ip, "alice@example.org", token)
    assert b"Subject: Undelivered Mail Returned to Sender" in dsn
    assert b"Return-Path: <>" in dsn and b"MAILER-DAEMON" in dsn, dsn[:1500]
    assert b"Status: 5.2.2" in dsn, dsn[:2000]
    with pytest.raises(AssertionError):
        imap_find(mailworld.ip, TINY, token, timeout=0.5)


def test_4_bounce_of_a_fresh_message_is_immediate(mailworld):
    token = send25(mailworld.ip, TINY, sender="alice@example.org", size=400_000)  # past quota + 10 % grace
    dsn = imap_find(mailworld.ip, "alice@example.org", token)
    assert b"Undelivered Mail Returned to Sender" in dsn and b"Status: 5.2.2" in dsn
    assert not _queue(mailworld)
