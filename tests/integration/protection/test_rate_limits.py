"""protection's rate limits against a stranger and logged-in users: anvil's messages per minute on
port 25 (4xx, later accepted on retry, other clients untouched) and recipients per hour for each
authenticated user on submission (docs/protection.md, "Rate limits")."""

from __future__ import annotations

import time
import uuid

import pytest

from secumail.config.settings import Protection
from tests.integration.protection.conftest import BURST, FRESH, PASSWORDS, USER_RECIPIENTS_PER_HOUR
from tests.integration.protection.test_spam_filter import PROSE, _find, _message, _send

pytestmark = pytest.mark.integration

MESSAGE_RATE = int(Protection.options()["smtp_message_rate"].metadata["uci_default"])  # the default: 30

BURST_SEND = """
out = []
for token in tokens:
    with smtplib.SMTP(server, 25, local_hostname="mx4.stranger.test", source_address=(source, 0),
                      timeout=60) as smtp:
        smtp.ehlo()
        code, text = smtp.mail("friend@stranger.test")
        if code != 250:
            out.append([code, text.decode()])
            continue
        smtp.rcpt("alice@example.org")
        code, text = smtp.data(messages[token].encode())
        out.append([code, text.decode()])
"""


def test_a_burst_over_the_message_rate_is_deferred_and_lands_on_retry(protected):
    tokens = [uuid.uuid4().hex for _ in range(50)]
    messages = {t: _message(t, PROSE) for t in tokens}
    started = time.monotonic()
    answers = protected.outside(BURST_SEND, server=protected.ip, source=BURST, tokens=tokens, messages=messages)
    accepted = [t for t, (code, _) in zip(tokens, answers) if code == 250]
    deferred = [(t, code, text) for t, (code, text) in zip(tokens, answers) if code != 250]
    assert len(accepted) == MESSAGE_RATE and accepted == tokens[:MESSAGE_RATE], answers
    assert all(400 <= code < 500 for _, code, _ in deferred), deferred  # temporary: the sender retries
    log = protected.exec(["grep", "rate limit exceeded", "/var/log/mail.log"]).stdout
    assert f"Message delivery request rate limit exceeded: {MESSAGE_RATE + 1} from " in log, log
    assert f"[{BURST}] for service smtp" in log, log
    # another client is not held back by the burst
    token, out = _send(protected, PROSE)
    assert out["data"] == 250, out
    # once anvil's minute is over, a deferred message goes through (as the sender's retry would)
    retried = deferred[0][0]
    time.sleep(max(0.0, started + 60 - time.monotonic()))
    while True:
        again = protected.outside(BURST_SEND, server=protected.ip, source=BURST, tokens=[retried],
                                  messages=messages)  # fmt: skip
        if again[0][0] == 250 or time.monotonic() > started + 150:
            break
        time.sleep(5)
    assert again[0][0] == 250, again
    assert _find(protected, retried)[0] == "INBOX"
    assert _find(protected, accepted[-1])[0] == "INBOX"


SUBMIT = """
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
out = {"rcpt": []}
with smtplib.SMTP(server, 587, local_hostname="laptop.stranger.test", timeout=60) as smtp:
    smtp.starttls(context=ctx)
    smtp.login(user, password)
    smtp.mail(user)
    for rcpt in rcpts:
        code, text = smtp.rcpt(rcpt)
        out["rcpt"].append([code, text.decode()])
    out["data"] = smtp.data(msg.encode())[0] if any(c == 250 for c, _ in out["rcpt"]) else None
"""


def _submit(world, user: str, rcpts: list[str]) -> dict:
    token = uuid.uuid4().hex
    msg = f"From: {user}\r\nTo: {rcpts[0]}\r\nSubject: limit {token}\r\n\r\ntoken {token}\r\n"
    return world.outside(SUBMIT, server=world.ip, source=FRESH, user=user, password=PASSWORDS[user],
                         rcpts=rcpts, msg=msg)  # fmt: skip


def test_a_user_over_the_hourly_recipient_limit_is_refused_with_the_reason(protected):
    limit = USER_RECIPIENTS_PER_HOUR
    rcpts = [f"alice+{n}@example.org" for n in range(limit + 1)]
    out = _submit(protected, "bob@example.org", rcpts)
    assert [code for code, _ in out["rcpt"][:limit]] == [250] * limit, out
    code, text = out["rcpt"][limit]
    assert code == 450 and text.startswith("4.7.1 "), out
    assert (f"bob@example.org has sent to {limit} recipients in the last hour, the limit of this server; "
            "try again in 60 minutes") in text, text  # fmt: skip
    assert out["data"] == 250, out  # the recipients within the limit get the message
    log = protected.exec(["grep", "has sent to", "/var/log/mail.log"]).stdout
    assert "reject: RCPT from" in log and "450 4.7.1" in log, log
    # bob stays refused; alice, another user, is not
    assert _submit(protected, "bob@example.org", ["alice@example.org"])["rcpt"][0][0] == 450
    alice = _submit(protected, "alice@example.org", ["bob@example.org"])
    assert alice["rcpt"] == [[250, "2.1.5 Ok"]] and alice["data"] == 250, alice
