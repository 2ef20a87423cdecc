"""Roundcube in its own container, as a user sees it: headless Chromium logs in, finds a message that
came in by SMTP, replies, and the reply arrives; `mailctl webmail status` says all is well.

Screenshots: docs/screenshots/webmail-*.png (docs/screenshots/README.md)."""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid

import pytest

from tests.integration.mail.world import PASSWORDS
from tests.support import apt
from tests.support.imapclient import imap_wait

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


def test_configure_restarts_it_and_alice_still_logs_in(webmail):
    """`mailctl webmail configure` after use: the start script brings the existing database's schema
    up to date (as www-data), then Roundcube answers again and keeps its users."""
    from secumail.appliance import webmail as appliance_webmail

    assert os.path.getsize(os.path.join(webmail.layout.webmail, "roundcube.db")) > 0
    result = appliance_webmail.configure(webmail)
    assert "/etc/roundcube/config.inc.php" in result["files"]
    assert appliance_webmail.test_login(webmail, ALICE, PASSWORDS[ALICE]) == (True, f"{ALICE} logged in")
