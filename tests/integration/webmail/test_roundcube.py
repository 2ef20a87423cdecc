"""Roundcube in its own container, as a user sees it: headless Chromium logs in, finds a message that
came in by SMTP, replies, and the reply arrives; `mailctl webmail status` says all is well.

Screenshots: docs/screenshots/webmail-*.png (docs/screenshots/README.md)."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import uuid

import pytest

from tests.integration.mail.world import PASSWORDS
from tests.support import apt
from tests.support.imapclient import imap_login_ok, imap_wait

pytestmark = pytest.mark.integration

SHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "screenshots")
ALICE, BOB = "alice@example.org", "bob@example.org"


@pytest.fixture(scope="module")
def browser():
    why = apt.install(("chromium", "chromium-driver"))
    if why:
        pytest.skip(why)
    pytest.importorskip("selenium", reason="needs selenium (pip install -e '.[test]')")
    from tests.support.browser import Browser

    browser = Browser()
    try:
        yield browser
    finally:
        browser.close()


def _submit(ip: str, token: str) -> str:
    """Bob sends Alice a message over SMTPS with his login, as a mail client does."""
    subject = f"Lunch on Friday {token[:8]}"
    msg = (f"From: Bob <{BOB}>\r\nTo: Alice <{ALICE}>\r\nSubject: {subject}\r\n"
           f"Message-ID: <{token}@example.org>\r\n\r\nShall we meet at noon? token {token}\r\n")  # fmt: skip
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the test reaches it by address
    with smtplib.SMTP_SSL(ip, 465, context=context, timeout=20) as smtp:
        smtp.login(BOB, PASSWORDS[BOB])
        smtp.sendmail(BOB, [ALICE], msg)
    return subject


def _shot(browser, name: str) -> None:
    browser.screenshot(os.path.abspath(os.path.join(SHOTS, f"webmail-{name}.png")))


def test_roundcube_login_read_and_reply(mailworld, webmail, browser):
    from secumail.appliance import webmail as appliance_webmail

    token = uuid.uuid4().hex
    subject = _submit(mailworld.ip, token)
    imap_wait(mailworld.ip, user=ALICE, password=PASSWORDS[ALICE], token=token)

    url = appliance_webmail.url(webmail)
    browser.get(url)
    browser.wait("the login form", lambda: browser.js("return !!document.querySelector('#rcmloginuser');"))
    _shot(browser, "login")
    browser.js("document.querySelector('#rcmloginuser').value = arguments[0];"
               "document.querySelector('#rcmloginpwd').value = arguments[1];"
               "document.querySelector('#rcmloginsubmit').click();", ALICE, PASSWORDS[ALICE])  # fmt: skip
    browser.wait("the message in Alice's inbox", lambda: subject in browser.text("#messagelist"), timeout=30)
    _shot(browser, "inbox")

    find_uid = ("var rows = rcmail.message_list.rows;"
                "for (var uid in rows) { if (rows[uid].obj.innerText.indexOf(arguments[0]) >= 0) return uid; }"
                "return null;")  # fmt: skip
    uid = browser.wait("the message's row", lambda: browser.js(find_uid, subject))
    browser.get(f"{url}?_task=mail&_mbox=INBOX&_uid={uid}&_action=show")
    browser.wait("the message", lambda: f"token {token}" in browser.text(), timeout=20)
    _shot(browser, "message")

    browser.get(f"{url}?_task=mail&_mbox=INBOX&_reply_uid={uid}&_action=compose")
    browser.wait("the reply form", lambda: browser.js("return !!document.querySelector('#composebody');"),
                 timeout=20)  # fmt: skip
    reply = f"Noon is fine. reply-{token}"
    browser.js("var b = document.querySelector('#composebody'); b.value = arguments[0] + '\\n\\n' + b.value;", reply)
    assert f"Re: {subject}" in browser.js("return document.querySelector('#compose-subject').value;")
    _shot(browser, "reply")
    browser.js("document.querySelector('button.send').click();")  # the Send button under the form
    browser.wait("the reply sent", lambda: "_action=compose" not in browser.driver.current_url, timeout=30)

    answer = imap_wait(mailworld.ip, user=BOB, password=PASSWORDS[BOB], token=f"reply-{token}", timeout=30)
    assert f"Subject: Re: {subject}".encode() in answer
    assert f"From: {ALICE}".encode() in answer or ALICE.encode() in answer.split(b"\r\n\r\n")[0]
    assert not browser.js_errors()


def test_status_says_it_answers_and_a_login_works(webmail):
    from secumail.appliance import webmail as appliance_webmail

    status = appliance_webmail.status(webmail, ALICE, PASSWORDS[ALICE])
    assert status["state"] == "RUNNING", status
    assert status["http"]["ok"], status
    assert status["imap_tls"]["ok"], status  # verified against mail.example.org with the self-signed cert
    assert status["login"]["ok"], status
    wrong = appliance_webmail.status(webmail, ALICE, "not-her-password")
    assert wrong["login"] == {"ok": False, "detail": f"{ALICE}: login refused"}


def test_the_container_sees_only_its_own_data(webmail):
    """data_path/webmail is its one mount: no maildir, no account file, no key of the mail server."""
    from secumail.appliance import webmail as appliance_webmail
    from secumail.mail.layout import CONTAINER_DATA

    container = appliance_webmail.container_for(webmail)
    points = {line.split()[1] for line in container.exec(["cat", "/proc/self/mounts"]).stdout.splitlines()}
    assert "/srv/webmail" in points
    assert not any(point.startswith(CONTAINER_DATA) for point in points)
    assert not container.exec(["test", "-e", CONTAINER_DATA]).ok
    assert os.stat(webmail.layout.webmail_key).st_mode & 0o777 == 0o600
    assert os.stat(webmail.layout.webmail_password_key).st_mode & 0o777 == 0o600


def test_configure_restarts_it_and_alice_still_logs_in(webmail):
    """`mailctl webmail configure` after use: the start script brings the existing database's schema
    up to date (as www-data), then Roundcube answers again and keeps its users."""
    from secumail.appliance import webmail as appliance_webmail

    assert os.path.getsize(os.path.join(webmail.layout.webmail, "roundcube.db")) > 0
    result = appliance_webmail.configure(webmail)
    assert "/etc/roundcube/config.inc.php" in result["files"]
    assert appliance_webmail.test_login(webmail, ALICE, PASSWORDS[ALICE]) == (True, f"{ALICE} logged in")


class _Served:
    """Stands for secumaild's worker: the request served in a thread of the test (its settings are in memory,
    not in a UCI file the real worker would read)."""

    def __init__(self, thread) -> None:
        self.thread = thread

    def poll(self):
        return None if self.thread.is_alive() else 0


@pytest.fixture
def password_service(webmail, tmp_path):
    """secumaild's password-change listener as the daemon runs it (bridge address, webmail peer only)."""
    import selectors
    import threading

    from secumail.appliance import webmailpass
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.daemon.webmailpass import PasswordService

    class InTest(PasswordService):
        def hand_over(self, conn):
            mine, peer = conn.dup(), conn.getpeername()[0]

            def serve():
                with mine:
                    webmailpass.serve(mine, webmail, peer, state=str(tmp_path / "failures.json"),
                                      runtime=ContainerRuntime(webmail))  # fmt: skip

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            return _Served(thread)

    selector = selectors.DefaultSelector()
    service = InTest(selector, "/nonexistent")
    service.update(webmail)
    assert service.listener is not None
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            for key, mask in selector.select(0.2):
                key.data(mask)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        stop.set()
        thread.join(5)
        service.close()


def _log_in(browser, url: str, user: str, password: str) -> None:
    browser.get(url)
    browser.wait("a page of Roundcube", lambda: browser.js("return !!window.rcmail;"))
    if browser.js("return !!document.querySelector('#rcmloginuser');"):
        browser.js("document.querySelector('#rcmloginuser').value = arguments[0];"
                   "document.querySelector('#rcmloginpwd').value = arguments[1];"
                   "document.querySelector('#rcmloginsubmit').click();", user, password)  # fmt: skip
        browser.wait("the mailbox", lambda: "_task=mail" in browser.driver.current_url, timeout=30)


def _change_password(browser, url: str, current: str, new: str) -> str:
    """Settings > Password, as a user fills it in; the message Roundcube shows."""
    browser.get(f"{url}?_task=settings&_action=plugin.password")
    browser.wait("the password form", lambda: browser.js("return !!document.querySelector('#newpasswd');"))
    browser.js("document.querySelector('#curpasswd').value = arguments[0];"
               "document.querySelector('#newpasswd').value = arguments[1];"
               "document.querySelector('#confpasswd').value = arguments[1];", current, new)  # fmt: skip
    browser.js("document.querySelector('.formbuttons .mainaction').click();")  # Save
    return browser.wait("Roundcube's answer", lambda: browser.text("#messagestack").strip(), timeout=30)


_POST = """<?php
$headers = ["Content-Type: application/x-www-form-urlencoded"];
if ($argv[5] === "with-key") {  // what the password plugin sends: the key from its own config
    include "/etc/roundcube/plugins/password/config.inc.php";
    foreach ($config["password_http_client"]["headers"] as $name => $value) { $headers[] = "$name: $value"; }
}
$ctx = stream_context_create(["http" => ["method" => "POST", "ignore_errors" => true, "timeout" => 20,
    "header" => implode("\\r\\n", $headers),
    "content" => http_build_query(["user" => $argv[2], "curpass" => $argv[3], "newpass" => $argv[4]])]]);
$body = @file_get_contents($argv[1], false, $ctx);
echo $http_response_header[0] ?? "no answer", "\\n", $body;
"""


def _post_from_webmail(settings, user: str, current: str, new: str, *, key: bool = True) -> tuple[str, str]:
    """The request Roundcube's driver makes, sent by PHP in the webmail container (as root there, so it
    can read the plugin's key); the status line and the body."""
    from secumail.appliance import webmail as appliance_webmail
    from secumail.mail.webmail import password_url

    container = appliance_webmail.container_for(settings)
    result = container.exec(["php", "-r", "eval('?>' . stream_get_contents(STDIN));", password_url(settings),
                             user, current, new, "with-key" if key else "no-key"], input=_POST, timeout=30)  # fmt: skip
    status, _, body = result.stdout.partition("\n")
    return status.strip(), body.strip()


def test_alice_changes_her_password_in_settings(mailworld, webmail, browser, password_service):
    """Settings > Password: Roundcube's httpapi driver asks secumaild on the bridge, which checks her
    current password and changes it; IMAP then takes the new one and refuses the old."""
    from secumail.appliance import webmail as appliance_webmail
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import accounts

    url = appliance_webmail.url(webmail)
    old, new = PASSWORDS[ALICE], f"alice-new-{uuid.uuid4().hex[:8]}"
    try:
        _log_in(browser, url, ALICE, old)
        weak = _change_password(browser, url, old, "short")
        assert "at least 10 characters" in weak, weak
        wrong = _change_password(browser, url, "not her password", new)
        assert "current password" in wrong.lower() or "could not save" in wrong.lower(), wrong
        assert imap_login_ok(mailworld.ip, ALICE, old)

        saved = _change_password(browser, url, old, new)
        _shot(browser, "password")
        assert "successfully saved" in saved.lower(), saved
        assert password_service.served >= 1 and password_service.refused == 0
        assert imap_login_ok(mailworld.ip, ALICE, new)
        assert not imap_login_ok(mailworld.ip, ALICE, old)
        # what a compromised Roundcube could try, with its key: an app password as the current one is refused
        phone = accounts.app_password_add(webmail, ALICE, "phone", runtime=ContainerRuntime(webmail))["password"]
        try:
            status, body = _post_from_webmail(webmail, ALICE, phone, "another-new-pass")
            assert status == "HTTP/1.1 403 Forbidden" and "wrong current password" in body, (status, body)
        finally:
            accounts.app_password_del(webmail, ALICE, "phone", runtime=ContainerRuntime(webmail))
        # from the webmail's address but without the key (anyone who took that address): refused, even
        # with her right current password
        status, body = _post_from_webmail(webmail, ALICE, new, "another-new-pass", key=False)
        assert status == "HTTP/1.1 403 Forbidden" and "password key" in body, (status, body)
        assert imap_login_ok(mailworld.ip, ALICE, new)
        # her Roundcube session goes on with the new password
        browser.get(f"{url}?_task=mail&_mbox=INBOX")
        browser.wait("her inbox", lambda: browser.js("return !!document.querySelector('#messagelist');"))
        assert not browser.js_errors()
        # anyone else on the bridge (here the host itself) is closed on at once
        with socket.create_connection(password_service.where, timeout=10) as other:
            assert other.recv(1) == b""
        assert password_service.refused == 1
    finally:
        accounts.user_passwd(webmail, ALICE, old, runtime=ContainerRuntime(webmail))
