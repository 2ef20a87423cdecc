"""Acceptance of the mail layer in a real container: delivery, retrieval, submission, relay, DKIM, bad config."""

from __future__ import annotations

import imaplib
import os
import poplib
import smtplib
import uuid

import pytest

from tests.integration.mail.client import HELO, imap_find, make_message, send25
from tests.integration.mail.world import PASSWORDS
from tests.support.imapclient import tls_context
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def _hand_over(mailworld):
    from secumail.appliance.ownership import ContainerRuntime

    return ContainerRuntime(mailworld.settings).hand_over


@pytest.mark.parametrize("rcpt,owner", [
    ("alice@example.org", "alice@example.org"),
    ("info@example.org", "alice@example.org"),          # alias (also forwards outside)
    ("whatever-unknown@example.org", "bob@example.org"),  # catch-all
    ("alice+news@example.org", "alice@example.org"),      # recipient delimiter
    ("carol@example.net", "carol@example.net"),           # second domain
])
def test_smtp_delivery_read_back_over_imaps(mailworld, rcpt, owner):
    token = send25(mailworld.ip, rcpt)
    raw = imap_find(mailworld.ip, owner, token)
    assert token.encode() in raw


def test_catch_all_does_not_swallow_real_users(mailworld):
    token = send25(mailworld.ip, "alice@example.org")
    imap_find(mailworld.ip, "alice@example.org", token)
    with imaplib.IMAP4_SSL(mailworld.ip, 993, ssl_context=tls_context()) as imap:
        imap.login("bob@example.org", PASSWORDS["bob@example.org"])
        imap.select("INBOX", readonly=True)
        assert imap.search(None, "BODY", token)[1] == [b""]


def test_pop3s_reads_the_mailbox(mailworld):
    token = send25(mailworld.ip, "carol@example.net")
    imap_find(mailworld.ip, "carol@example.net", token)
    pop = poplib.POP3_SSL(mailworld.ip, 995, context=tls_context(), timeout=10)
    try:
        pop.user("carol@example.net")
        pop.pass_(PASSWORDS["carol@example.net"])
        count, _ = pop.stat()
        texts = [b"\n".join(pop.retr(i)[1]) for i in range(1, count + 1)]
        assert any(token.encode() in t for t in texts)
    finally:
        pop.quit()


def test_unknown_recipient_gets_550(mailworld):
    with smtplib.SMTP(mailworld.ip, 25, local_hostname=HELO, timeout=20) as smtp:
        smtp.ehlo()
        smtp.mail("someone@outside.test")
        code, text = smtp.rcpt("nobody@example.net")  # example.net has no catch-all
    assert code == 550, text


def test_relay_without_auth_gets_554(mailworld):
    with smtplib.SMTP(mailworld.ip, 25, local_hostname=HELO, timeout=20) as smtp:
        smtp.ehlo()
        smtp.mail("someone@outside.test")
        code, text = smtp.rcpt("victim@elsewhere.test")
    assert code == 554 and b"Relay access denied" in text


def test_submission_needs_tls_and_the_right_password(mailworld):
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")  # no AUTH before STARTTLS
        with pytest.raises(smtplib.SMTPNotSupportedError):
            smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.login("alice@example.org", "wrong password")
        assert err.value.smtp_code == 535
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.ehlo()
        smtp.mail("alice@example.org")
        code, _ = smtp.rcpt("victim@elsewhere.test")
        assert code >= 500  # nothing without auth on submission


def test_submission_and_smtps_send_with_a_dkim_signature_that_verifies(mailworld):
    import dkim

    from secumail.mail import dkim as keys

    tokens = []
    token, msg = make_message("bob@example.org", sender="alice@example.org")
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
        smtp.sendmail("alice@example.org", ["bob@example.org"], msg)
    tokens.append(token)
    token, msg = make_message("bob@example.org", sender="alice@example.org")
    with smtplib.SMTP_SSL(mailworld.ip, 465, local_hostname=HELO, timeout=20, context=tls_context()) as smtp:
        smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
        smtp.sendmail("alice@example.org", ["bob@example.org"], msg)
    tokens.append(token)
    txt = keys.dns_txt_value(mailworld.data, "example.org", "mail").encode()

    def dns(name, timeout=5):
        assert name == b"mail._domainkey.example.org."
        return txt

    for token in tokens:
        raw = imap_find(mailworld.ip, "bob@example.org", token)
        assert b"DKIM-Signature:" in raw
        assert dkim.verify(raw, dnsfunc=dns), raw[:600]


def test_mail_from_outside_is_not_signed(mailworld):
    token = send25(mailworld.ip, "alice@example.org", sender="someone@outside.test")
    assert b"DKIM-Signature:" not in imap_find(mailworld.ip, "alice@example.org", token)


def test_bad_config_leaves_the_old_one_running(mailworld):
    from secumail.mail import deploy, render

    live = os.readlink(os.path.join(mailworld.data, "config", "live"))
    files = render.render_all(mailworld.settings, ["example.org", "example.net"], "/unused")
    files["postfix/main.cf"] = (files["postfix/main.cf"][0] + "smtpd_bogus_parameter = 1\n", 0o644)
    with pytest.raises(deploy.ConfigCheckFailed) as err:
        deploy.deploy(mailworld.settings, mailworld.lxc.container, files=files, hand_over=_hand_over(mailworld))
    assert "main.cf" in str(err.value) and "smtpd_bogus_parameter" in str(err.value)
    assert os.readlink(os.path.join(mailworld.data, "config", "live")) == live
    token = send25(mailworld.ip, "alice@example.org")
    imap_find(mailworld.ip, "alice@example.org", token)


def test_redeploy_and_restart_lose_nothing(mailworld):
    from secumail.mail import deploy

    token = send25(mailworld.ip, "carol@example.net")
    imap_find(mailworld.ip, "carol@example.net", token)
    deploy.deploy(mailworld.settings, mailworld.lxc.container, hand_over=_hand_over(mailworld))
    container = mailworld.lxc.container
    container.stop()
    container.start()
    res = container.exec(["/srv/mailserver/config/live/container/start"])
    assert res.returncode == 0, res.stderr
    mailworld.lxc.wait_port(143, timeout=20)
    assert token.encode() in imap_find(mailworld.ip, "carol@example.net", token)


def test_a_milter_socket_left_by_another_image_does_not_keep_opendkim_down(mailworld):
    """The queue dir (and the milter sockets in it) outlives the image; after an image update the
    socket left there belongs to a uid the new image's opendkim does not have."""
    import socket

    from secumail.appliance.status import _socket_up

    container = mailworld.lxc.container
    container.stop()
    path = os.path.join(mailworld.data, "spool", "opendkim", "opendkim.sock")
    if os.path.lexists(path):
        os.unlink(path)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)
    mapping = mailworld.lxc.spec.idmap
    os.chown(path, mapping.uid(4242), mapping.gid(4242))  # nobody of this image
    container.start()
    res = container.exec(["/srv/mailserver/config/live/container/start"])
    assert res.returncode == 0, res.stderr
    mailworld.lxc.wait_port(587, timeout=20)
    wait_until(lambda: _socket_up(path), timeout=10, what="opendkim answering on its socket")
    token, msg = make_message("bob@example.org", sender="alice@example.org")
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
        smtp.sendmail("alice@example.org", ["bob@example.org"], msg)
    assert b"DKIM-Signature:" in imap_find(mailworld.ip, "bob@example.org", token)


def _sieve_session(ip: str, user: str, password: str, commands: list[bytes]) -> list[bytes]:
    """A minimal ManageSieve (RFC 5804) client: STARTTLS, AUTHENTICATE PLAIN, then `commands`."""
    import base64
    import socket

    def read_response(stream) -> bytes:
        out = b""
        while True:
            line = stream.readline()
            if not line:
                raise AssertionError(f"managesieve closed the connection after {out!r}")
            out += line
            if line.startswith((b"OK", b"NO", b"BYE")):
                return out

    raw = socket.create_connection((ip, 4190), timeout=10)
    stream = raw.makefile("rb")
    greeting = read_response(stream)
    assert b'"STARTTLS"' in greeting
    raw.sendall(b"STARTTLS\r\n")
    assert read_response(stream).startswith(b"OK")
    tls = tls_context().wrap_socket(raw, server_hostname=ip)
    stream = tls.makefile("rb")
    read_response(stream)  # capabilities again, now with SASL PLAIN
    token = base64.b64encode(f"\0{user}\0{password}".encode())
    tls.sendall(b'AUTHENTICATE "PLAIN" "' + token + b'"\r\n')
    assert read_response(stream).startswith(b"OK"), "managesieve login failed"
    answers = []
    for command in commands:
        tls.sendall(command)
        answers.append(read_response(stream))
    tls.sendall(b"LOGOUT\r\n")
    tls.close()
    return answers


def test_sieve_rule_uploaded_over_managesieve_files_into_a_folder(mailworld):
    script = (b'require ["fileinto", "mailbox"];\r\n'
              b'if header :contains "subject" "sieve-me" { fileinto :create "Filed"; }\r\n')
    answers = _sieve_session(mailworld.ip, "alice@example.org", PASSWORDS["alice@example.org"], [
        b'PUTSCRIPT "rules" {%d+}\r\n' % len(script) + script + b"\r\n",
        b'SETACTIVE "rules"\r\n',
    ])
    assert all(a.startswith(b"OK") for a in answers), answers
    token = uuid.uuid4().hex
    msg = (f"From: someone@outside.test\r\nTo: alice@example.org\r\nSubject: please sieve-me {token}\r\n\r\n"
           f"token {token}\r\n")
    with smtplib.SMTP(mailworld.ip, 25, local_hostname=HELO, timeout=20) as smtp:
        smtp.sendmail("someone@outside.test", ["alice@example.org"], msg)
    assert token.encode() in imap_find(mailworld.ip, "alice@example.org", token, folder="Filed")
    with pytest.raises(AssertionError):
        imap_find(mailworld.ip, "alice@example.org", token, timeout=0.5)  # not in INBOX


def test_account_changes_take_effect_in_the_running_container(mailworld, monkeypatch):
    """mailctl's hook reloads Postfix maps and flushes Dovecot's auth cache: no restart needed."""
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import accounts

    runtime = ContainerRuntime(mailworld.settings)  # what mailctl hands the account code
    assert runtime.running() is not None
    accounts.user_add(mailworld.settings, "dave@example.net", "dave-one-pass", runtime=runtime)
    PASSWORDS["dave@example.net"] = "dave-one-pass"
    token = send25(mailworld.ip, "dave@example.net")  # example.net has no catch-all: needs the new map
    imap_find(mailworld.ip, "dave@example.net", token)
    accounts.user_passwd(mailworld.settings, "dave@example.net", "dave-two-pass", runtime=runtime)
    with imaplib.IMAP4_SSL(mailworld.ip, 993, ssl_context=tls_context()) as imap, pytest.raises(imaplib.IMAP4.error):
        imap.login("dave@example.net", "dave-one-pass")  # the cached old password no longer works
    PASSWORDS["dave@example.net"] = "dave-two-pass"
    imap_find(mailworld.ip, "dave@example.net", token)
    accounts.alias_add(mailworld.settings, "sales@example.net", ["dave@example.net"], runtime=runtime)
    token = send25(mailworld.ip, "sales@example.net")
    imap_find(mailworld.ip, "dave@example.net", token)


def test_a_user_cannot_send_as_someone_else(mailworld):
    with smtplib.SMTP(mailworld.ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("alice@example.org", PASSWORDS["alice@example.org"])
        smtp.ehlo()
        smtp.mail("bob@example.org")
        code, text = smtp.rcpt("carol@example.net")  # restrictions are applied at RCPT (smtpd_delay_reject)
        assert code == 553 and b"not owned by user" in text
        smtp.rset()
        smtp.mail("info@example.org")  # an alias that delivers to alice
        assert smtp.rcpt("carol@example.net")[0] == 250
