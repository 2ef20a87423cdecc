"""protection.dnsbl through postscreen, against a stranger listed in a test blocklist (Knot); and
postscreen's pregreet test against a stranger that talks before the banner."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.protection.conftest import LISTED, TALKER, UNSEEN

pytestmark = pytest.mark.integration

TRY = """
import time
started = time.monotonic()
with smtplib.SMTP(server, 25, local_hostname=helo, source_address=(source, 0), timeout=60) as smtp:
    smtp.ehlo()
    out = {"mail": smtp.mail("friend@stranger.test")[0]}
    code, text = smtp.rcpt("alice@example.org")
    out["rcpt"], out["text"] = code, text.decode()
    if code == 250:
        out["data"] = smtp.data(("Subject: dnsbl %s\\r\\n\\r\\ntoken %s\\r\\n" % (token, token)).encode())[0]
out["seconds"] = time.monotonic() - started
"""


def _try(world, source: str, helo: str = "mx.stranger.test") -> dict:
    return world.outside(TRY, server=world.ip, source=source, helo=helo, token=uuid.uuid4().hex)


def _delivered(world, token_out: dict) -> bool:
    return token_out.get("data") == 250


def test_a_listed_client_is_refused_then_let_in_once_unlisted(protected):
    refused = _try(protected, LISTED)
    assert refused["rcpt"] == 550 and "blocked using dnsbl.test" in refused["text"], refused
    log = protected.exec(["tail", "-n", "30", "/var/log/mail.log"]).stdout
    assert f"DNSBL rank 3 for [{LISTED}]" in log, log
    protected.knot.start(listed=())  # the stranger is taken off the list; postscreen asks again
    try:
        allowed = _try(protected, LISTED)
        assert allowed["rcpt"] == 250 and _delivered(protected, allowed), allowed
    finally:
        protected.knot.start()


def test_mail_flows_while_the_blocklist_does_not_answer(protected):
    protected.knot.stop()
    try:
        out = _try(protected, UNSEEN, helo="mx3.stranger.test")
        assert out["rcpt"] == 250 and _delivered(protected, out), out
        assert out["seconds"] < 30, out  # a silent list costs at most postscreen's greet wait
    finally:
        protected.knot.start()


# A spambot's shortcut: EHLO sent at once, without waiting for the server's banner. postscreen sends the
# first line of a multi-line banner (220-), waits, and notes who talked meanwhile. The rest of the session
# is sent in one go and read to the end: whatever postscreen answers to each command is in `transcript`.
PREGREET = """
sock = socket.create_connection((server, 25), timeout=30, source_address=(source, 0))
sock.sendall(b"EHLO mx5.stranger.test\\r\\n")
replies = sock.makefile("rb")
out = {"first": replies.readline().decode()}
sock.sendall(b"EHLO mx5.stranger.test\\r\\nMAIL FROM:<friend@stranger.test>\\r\\n"
             b"RCPT TO:<alice@example.org>\\r\\nQUIT\\r\\n")
out["transcript"] = replies.read().decode()
sock.close()
"""


def test_a_client_talking_before_the_banner_is_refused(protected):
    out = protected.outside(PREGREET, server=protected.ip, source=TALKER)
    assert out["first"].startswith("220-"), out  # the banner's first line only: postscreen listens
    assert "550 5.5.1 Protocol error" in out["transcript"], out
    assert "250 2.1.5" not in out["transcript"], out  # the recipient was never accepted
    log = protected.exec(["grep", f"[{TALKER}]", "/var/log/mail.log"]).stdout
    assert "PREGREET" in log and "EHLO mx5.stranger.test" in log, log
    assert "550 5.5.1 Protocol error" in log, log
