"""Outbound mail through a smarthost that wants SASL after STARTTLS (issue 15, item 3), end to end:
`mailctl relay add|test` on the host, the appliance's Postfix relaying an authenticated user's mail,
the ISP's Postfix receiving it authenticated; a wrong password fails in one line and the mail waits."""

from __future__ import annotations

import json
import smtplib
import ssl
import subprocess
import sys
import time
import uuid

import pytest

from tests.integration.relay.conftest import USERS
from tests.support import smarthost
from tests.support.argvscan import ArgvScanner

pytestmark = pytest.mark.integration

SENDER = "alice@example.org"
CAROL = "carol@example.net"
OUTSIDE = "someone@outside.test"


def mailctl(world, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "secumail.cli", *args], input=stdin, capture_output=True,
                          text=True, env=world.env, timeout=120)


def relay_add(world, password: str) -> subprocess.CompletedProcess:
    return mailctl(world, "relay", "add", "isp", world.isp_ip, "--user", smarthost.USER, "--no-verify",
                   "--password-stdin", stdin=password + "\n")


def submit(world, rcpt: str = OUTSIDE, sender: str = SENDER) -> str:
    """A user sends through the appliance's submission port (STARTTLS + AUTH); returns the message's token."""
    token = uuid.uuid4().hex
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: relay {token}\r\nMessage-ID: <{token}@secumail.test>\r\n"
           f"\r\ntoken {token}\r\n")
    with smtplib.SMTP(world.appliance.ip, 587, local_hostname="laptop.example.org", timeout=20) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(sender, USERS[sender])
        smtp.sendmail(sender, [rcpt], msg)
    return token


def appliance_queue(world) -> list[dict]:
    out = world.appliance.container.exec(["postqueue", "-j"]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_deferred(world, rcpt: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in appliance_queue(world):
            for r in message["recipients"]:
                if r["address"] == rcpt and message["queue_name"] == "deferred" and r.get("delay_reason"):
                    return {**message, "reason": r["delay_reason"]}
        time.sleep(0.5)
    raise AssertionError(f"no deferred message for {rcpt} in the appliance's queue: {appliance_queue(world)}")


def logs(world) -> str:
    """Every log of both mail servers."""
    text = ""
    for lxc in (world.appliance, world.isp):
        text += lxc.container.exec(["sh", "-c", "cat /var/log/*.log 2>/dev/null"]).stdout
    return text


def test_mail_goes_out_through_the_smarthost_authenticated_and_a_wrong_password_keeps_it_queued(relayworld):
    world = relayworld
    with ArgvScanner((smarthost.GOOD, smarthost.BAD)) as scanner:
        added = relay_add(world, smarthost.GOOD)
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == (f"relay isp: {smarthost.USER} at [{world.isp_ip}]:587 (starttls), "
                                        "default relayhost")
        tested = mailctl(world, "relay", "test", "isp")
        assert tested.returncode == 0, tested.stdout + tested.stderr
        (line,) = tested.stdout.splitlines()
        assert line.startswith(f"relay isp: [{world.isp_ip}]:587 STARTTLS (TLSv1.")
        assert line.endswith(f"ok, AUTH as {smarthost.USER} ok")

        # the map inside the container: root's alone
        mode = world.appliance.container.exec(["stat", "-c", "%a %U %G", "/etc/postfix/sasl/relay_passwd"]).stdout
        assert mode.split() == ["600", "root", "root"]
        for user in ("postfix", "dovecot", "vmail"):  # no service account reads it, nor the stored files
            peek = world.appliance.container.exec(
                ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "cat",
                 "/etc/postfix/sasl/relay_passwd", "/srv/mailserver/relay/isp.password",
                 "/srv/mailserver/relay/sasl_passwd"])
            assert peek.returncode != 0 and smarthost.GOOD not in peek.stdout, (user, peek.stderr)
            assert peek.stderr.count("Permission denied") == 3, (user, peek.stderr)

        token = submit(world)
        held = smarthost.wait_held(world.isp.container, OUTSIDE, token)
        assert f"(Authenticated sender: {smarthost.USER})" in held  # it logged in at the smarthost
        assert "using TLS" in held  # over TLS
        assert "from mail.example.org" in held  # from the appliance's Postfix, not the test

        # a wrong password: one line, exit 1, and the next message waits in the appliance's queue
        assert relay_add(world, smarthost.BAD).returncode == 0
        tested = mailctl(world, "relay", "test", "isp")
        assert tested.returncode == 1
        assert tested.stdout.count("\n") == 1 and "Traceback" not in tested.stderr
        assert tested.stdout.startswith(f"relay isp: [{world.isp_ip}]:587 refused the login of {smarthost.USER} "
                                        "(wrong user or password?): 535 ")
        token2 = submit(world)
        waiting = wait_deferred(world, OUTSIDE)
        assert "SASL authentication failed" in waiting["reason"], waiting
        assert not any(token2 in world.isp.container.exec(["postcat", "-bq", m["queue_id"]]).stdout
                       for m in smarthost.held(world.isp.container))

        # the right password again: the waiting message goes out
        assert relay_add(world, smarthost.GOOD).returncode == 0
        world.appliance.container.exec(["postqueue", "-f"], check=True)
        smarthost.wait_held(world.isp.container, OUTSIDE, token2)

        outputs = added.stdout + added.stderr + tested.stdout + tested.stderr
    assert scanner.ran("relay") and scanner.ran("postqueue")  # the scan saw the runs
    assert scanner.seen == []  # neither password was ever in any argv
    text = logs(world)
    assert "relay" in text.lower() or "postfix" in text  # the logs were read
    for secret in (smarthost.GOOD, smarthost.BAD):
        assert secret not in text and secret not in outputs


def test_a_sender_domain_goes_through_its_own_relay_and_login_over_tls_from_the_first_byte(relayworld):
    world = relayworld
    with ArgvScanner((smarthost.GOOD, smarthost.BIZ)) as scanner:
        assert relay_add(world, smarthost.GOOD).returncode == 0
        added = mailctl(world, "relay", "add", "biz", world.isp_ip, "--tls", "tls", "--user", smarthost.BIZ_USER,
                        "--sender-domain", "example.net", "--no-verify", "--password-stdin",
                        stdin=smarthost.BIZ + "\n")
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == (f"relay biz: {smarthost.BIZ_USER} at [{world.isp_ip}]:465 (tls), "
                                        "for example.net")
        tested = mailctl(world, "relay", "test")
        assert tested.returncode == 0, tested.stdout + tested.stderr
        lines = tested.stdout.splitlines()
        assert len(lines) == 2 and lines[1].startswith(f"relay biz: [{world.isp_ip}]:465 TLS (TLSv1.")
        assert lines[1].endswith(f"AUTH as {smarthost.BIZ_USER} ok")

        token_alice = submit(world)
        token_carol = submit(world, sender=CAROL)
        alice = smarthost.wait_held(world.isp.container, OUTSIDE, token_alice)
        carol = smarthost.wait_held(world.isp.container, OUTSIDE, token_carol)
    assert f"(Authenticated sender: {smarthost.USER})" in alice
    assert f"(Authenticated sender: {smarthost.BIZ_USER})" in carol  # its own login, per sender domain
    log = world.isp.container.exec(["cat", "/var/log/mail.log"]).stdout
    # carol's mail came in on the smarthost's 465 (TLS from the first byte), logged in as the second account
    assert any("postfix/smtps/smtpd" in line and f"sasl_username={smarthost.BIZ_USER}" in line
               for line in log.splitlines()), log[-3000:]
    assert scanner.seen == []
    removed = mailctl(world, "relay", "del", "biz")
    assert removed.returncode == 0 and removed.stdout.strip() == "relay biz deleted"


def test_the_relay_is_refused_plaintext_auth(relayworld):
    """Postfix's own settings for the relay: TLS required toward it, AUTH only inside that TLS."""
    out = relayworld.appliance.container.exec(["postconf", "-h", "smtp_sasl_security_options",
                                               "smtp_sasl_tls_security_options", "smtp_tls_policy_maps"]).stdout
    assert out.splitlines()[:2] == ["noanonymous, noplaintext", "noanonymous"]
    policy = relayworld.appliance.container.exec(["cat", out.splitlines()[2].removeprefix("texthash:")]).stdout
    assert policy == f"[{relayworld.isp_ip}]:587 encrypt\n"
