"""features.spam_filter against mail from a stranger's server: Junk filing, SMTP-time rejects,
Authentication-Results, learning from IMAP moves, and what was learned surviving a restart
(docs/protection.md)."""

from __future__ import annotations

import imaplib
import ssl
import time
import uuid

import pytest

from secumail.appliance.image import install_hooks
from tests.integration.protection.conftest import FRESH, PASSWORDS, _wait_rspamd

pytestmark = pytest.mark.integration

# Rspamd's GTUBE: the standard one asks for a reject; the YJS variant (protection.test_patterns) for
# "add header", i.e. spam below the reject score.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_JUNK = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
PROSE = ("The quarterly garden club meeting moves to the library annex on Thursday evening. Bring seed "
         "catalogues, the pruning schedule, and ideas for the spring plant sale; tea and biscuits provided.")

SEND = """
with smtplib.SMTP(server, 25, local_hostname="mx2.stranger.test", source_address=(source, 0), timeout=60) as smtp:
    smtp.ehlo()
    code, text = smtp.mail(sender)
    out = {"mail": code}
    code, text = smtp.rcpt(rcpt)
    out["rcpt"] = code
    code, text = smtp.data(msg.encode())
    out["data"], out["text"] = code, text.decode()
"""


def _message(token: str, body: str) -> str:
    return (f"From: Friend <friend@stranger.test>\r\nTo: alice@example.org\r\nSubject: hello {token}\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{token}@stranger.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\ntoken {token}\r\n")  # fmt: skip


def _send(world, body: str) -> tuple[str, dict]:
    token = uuid.uuid4().hex
    out = world.outside(SEND, server=world.ip, source=FRESH, sender="friend@stranger.test",
                        rcpt="alice@example.org", msg=_message(token, body))  # fmt: skip
    return token, out


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def _imap(world) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL(world.ip, 993, ssl_context=_tls(), timeout=20)
    imap.login("alice@example.org", PASSWORDS["alice@example.org"])
    return imap


def _find(world, token: str, timeout: float = 30) -> tuple[str, bytes]:
    """(folder, raw message) of the message with `token`, looked for in INBOX and Junk."""
    deadline = time.monotonic() + timeout
    while True:
        with _imap(world) as imap:
            for folder in ("INBOX", "Junk"):
                imap.select(folder, readonly=True)
                _, found = imap.search(None, "BODY", token)
                if found[0]:
                    _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                    return folder, data[0][1]
        if time.monotonic() > deadline:
            raise AssertionError(f"message {token} is in neither INBOX nor Junk after {timeout} s")
        time.sleep(0.5)


def _headers(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace").replace("\r\n\t", " ").replace("\r\n ", " ")


def test_clean_mail_lands_in_inbox_with_spf_and_dmarc_verdicts(protected):
    token, out = _send(protected, PROSE)
    assert out["data"] == 250, out
    folder, raw = _find(protected, token)
    assert folder == "INBOX" and "X-Spam: Yes" not in _headers(raw)
    line = protected.exec(["grep", f"<{token}@stranger.test>", "/var/log/rspamd.log"]).stdout
    assert "R_SPF_ALLOW" in line and "DMARC_POLICY_ALLOW" in line, line


def test_clean_mail_carries_authentication_results(protected):
    token, out = _send(protected, PROSE)
    assert out["data"] == 250, out
    folder, raw = _find(protected, token)
    assert folder == "INBOX"
    results = [line for line in _headers(raw).splitlines() if line.startswith("Authentication-Results:")]
    assert len(results) == 1, results
    fqdn = protected.settings.main.fqdn
    assert results[0].startswith(f"Authentication-Results: {fqdn};"), results
    # the stranger's message is unsigned; its domain's SPF lists the sending address; DMARC p=none
    assert "dkim=none" in results[0], results
    assert "spf=pass" in results[0] and "smtp.mailfrom=friend@stranger.test" in results[0], results
    assert "dmarc=pass (policy=none) header.from=stranger.test" in results[0], results


def test_a_forged_authentication_results_naming_this_server_is_dropped(protected):
    fqdn = protected.settings.main.fqdn
    forged = f"Authentication-Results: {fqdn}; dkim=pass header.d=bank.test; dmarc=pass header.from=bank.test"
    token = uuid.uuid4().hex
    msg = _message(token, PROSE).replace("MIME-Version:", f"{forged}\r\nMIME-Version:", 1)
    out = protected.outside(SEND, server=protected.ip, source=FRESH, sender="friend@stranger.test",
                            rcpt="alice@example.org", msg=msg)  # fmt: skip
    assert out["data"] == 250, out
    results = [line for line in _headers(_find(protected, token)[1]).splitlines()
               if line.startswith("Authentication-Results:")]  # fmt: skip
    assert len(results) == 1 and "bank.test" not in results[0] and "spf=pass" in results[0], results


def test_spam_lands_in_junk(protected):
    token, out = _send(protected, f"{PROSE}\r\n{GTUBE_JUNK}")
    assert out["data"] == 250, out
    folder, raw = _find(protected, token)
    assert folder == "Junk"
    assert "X-Spam: Yes" in _headers(raw)


def test_spam_over_the_reject_score_is_refused_at_smtp_time(protected):
    token, out = _send(protected, f"{PROSE}\r\n{GTUBE}")
    assert out["data"] == 554 and out["text"].startswith("5.7.1 "), out  # Rspamd's reason follows
    log = protected.exec(["grep", "-c", f"{token}@stranger.test", "/var/log/mail.log"]).stdout.strip()
    assert "milter-reject" in protected.exec(["tail", "-n", "50", "/var/log/mail.log"]).stdout, log


def _wait_learned(world, symbol: str, above: int, timeout: float = 150) -> int:
    """The controller refreshes its Bayes counts from Redis about once a minute: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        count = world.learned().get(symbol, 0)
        if count > above or time.monotonic() > deadline:
            return count
        time.sleep(2)


def test_moving_into_and_out_of_junk_trains_rspamd(protected):
    before = protected.learned()
    assert set(before) == {"BAYES_SPAM", "BAYES_HAM"}, before
    token, out = _send(protected, PROSE + " Also: the compost heap needs turning before the frost arrives.")
    assert out["data"] == 250, out
    assert _find(protected, token)[0] == "INBOX"
    with _imap(protected) as imap:
        imap.select("INBOX")
        _, found = imap.uid("SEARCH", None, "BODY", token)
        assert imap.uid("MOVE", found[0].split()[-1], "Junk")[0] == "OK"
    spam = _wait_learned(protected, "BAYES_SPAM", before["BAYES_SPAM"])
    assert spam == before["BAYES_SPAM"] + 1, protected.exec(["tail", "-n", "20", "/var/log/dovecot.log"]).stdout
    with _imap(protected) as imap:
        imap.select("Junk")
        _, found = imap.uid("SEARCH", None, "BODY", token)
        assert imap.uid("MOVE", found[0].split()[-1], "INBOX")[0] == "OK"
    ham = _wait_learned(protected, "BAYES_HAM", before["BAYES_HAM"])
    assert ham == before["BAYES_HAM"] + 1, protected.exec(["tail", "-n", "20", "/var/log/dovecot.log"]).stdout


def _bayes_keys(world) -> int:
    """How many keys Rspamd's Bayes data has in Redis (its tokens and counters): read from Redis itself,
    not from the controller's counts, which it refreshes only about once a minute."""
    out = world.exec(["runuser", "-u", "redis", "--", "redis-cli", "-s", "/run/redis/redis.sock", "DBSIZE"]).stdout
    return int(out.strip() or 0)


def test_what_rspamd_learned_survives_a_container_restart(protected):
    """Bayes lives in Redis, which saves it when the container stops."""
    message = _message(uuid.uuid4().hex, PROSE + " Cheap watches, limited offer, reply today to claim your prize.")
    before = _bayes_keys(protected)
    res = protected.lxc.container.exec(["rspamc", "-h", "/run/rspamd-learn/controller.sock", "learn_spam"],
                                       input=message)  # fmt: skip
    assert res.returncode == 0 and "success = true" in res.stdout, res.stdout + res.stderr
    learned = _bayes_keys(protected)
    assert learned > before, (before, learned)  # the message's new tokens
    # the init hooks `mailctl install` puts in the image: halt runs the live stop script, boot the start one
    install_hooks(protected.lxc.rootfs, protected.lxc.spec.idmap)
    protected.lxc.container.stop()  # what `mailctl stop` does to the container
    protected.lxc.container.start()
    protected.lxc.wait_port(25, timeout=30)
    _wait_rspamd(protected)
    after = _bayes_keys(protected)
    assert after == learned, protected.exec(["tail", "-n", "20", "/var/log/redis.log"]).stdout
