"""luci-app-secumail in a real LuCI (OpenWrt's ubusd, rpcd, uhttpd, ucode, luci-base from
../shared/openwrt-userland), driven by headless Chromium as an administrator and as a read-only login.

Against a real appliance: container smweb on bridge smweb0 (10.248.0.0/24), its UCI file in LuCI's own
/etc/config (the run directory), so a Settings change saved in the browser is the file secumaild reads.
secumaild is not running at first: Overview must say so in its own row and start it with a button.
Every page: no JavaScript error, the appliance's data, no shell advice, no raw ISO dates; the read-only
login sees the note and no write control. Screenshots of every page go to docs/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import smtplib
import socket
import uuid

import pytest

from tests.integration.luci.world import World
from tests.integration.lxcworld import ensure_apt_packages, need_root
from tests.support import apt, owu
from tests.support.paths import REPO
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-luci-browser"
RUNDIR = f"{WORK}/owu"  # LuCI's root: etc/config/{rpcd,luci,mailserver}
WORLD = World(work=WORK, name="smweb", bridge="smweb0", subnet="10.248.0", domain="web.test",
              confdir=f"{RUNDIR}/etc/config")  # fmt: skip
OLD_DOMAIN = "old.test"  # the primary domain before it changed: its mailbox is no longer served
PORT = 18181
BASE = f"http://127.0.0.1:{PORT}"
ADMIN_PW = f"admin-{uuid.uuid4().hex[:10]}"
VIEWER_PW = f"viewer-{uuid.uuid4().hex[:10]}"
SHOTS = os.path.join(REPO, "docs", "screenshots")
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
SHELL = re.compile(r"mailctl |/etc/init\.d|'mailctl")
WRITE_LABELS = ("Start", "Stop", "Start agent", "Apply configuration", "Install / rebuild container", "Add domain",
                "Add mailbox", "Add alias", "Add catch-all", "Delete", "Password", "Quota", "Back up now",
                "Push to peers", "Pull from peers", "Pin a peer by id", "Retry all now", "Delete all", "Save",
                "Save & Apply", "Set password…", "Issue certificate", "Renew now", "Renew if due", "Apply", "Unpin",
                "Trust…")  # fmt: skip


def _users() -> None:
    """demo@old.test while old.test was the primary domain, then the domain changed; alice@ stays served."""
    from secumail.config import load_settings
    from secumail.mail import accounts

    WORLD.write_config(domain=OLD_DOMAIN)
    accounts.user_add(load_settings(WORLD.confdir), f"demo@{OLD_DOMAIN}", uuid.uuid4().hex)
    WORLD.write_config()
    # the DNS plan needs the A record's address; the Settings form shows the sections that exist
    with open(os.path.join(WORLD.confdir, "mailserver"), "a") as handle:
        handle.write("\nconfig dns 'dns'\n\toption public_ipv4 '192.0.2.25'\n\nconfig ports 'ports'\n")
    accounts.user_add(load_settings(WORLD.confdir), f"alice@{WORLD.domain}", uuid.uuid4().hex)


def _mail_for_the_log(count: int = 12) -> None:
    """Deliveries, so the log is longer than its box (and shows real lines)."""
    with smtplib.SMTP(WORLD.ip, 25, local_hostname="client.outside.test", timeout=20) as smtp:
        for n in range(count):
            smtp.sendmail(
                "someone@outside.test",
                [f"alice@{WORLD.domain}"],
                f"From: someone@outside.test\r\nTo: alice@{WORLD.domain}\r\nSubject: log {n}\r\n\r\nhi\r\n",
            )


def _daemon_pid() -> int | None:
    try:
        with open(f"{WORK}/run/secumaild.pid") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def luci():
    reason = owu.missing()
    if reason:
        pytest.skip(reason)
    need_root()
    ensure_apt_packages()
    why = apt.install(("chromium", "chromium-driver", "openssl"))
    if why:
        pytest.skip(why)
    pytest.importorskip("selenium", reason="needs selenium (pip install -e '.[test]')")
    from tests.support.browser import Browser

    owu.stop()
    WORLD.teardown()
    os.makedirs(WORK)
    owu.build(f"{WORK}/owu-build.log")
    owu.install_app()
    _users()
    browser = None
    try:
        installed = WORLD.install()
        assert installed["container"] == "RUNNING", installed
        _mail_for_the_log()
        owu.start(RUNDIR, port=PORT, root_password=ADMIN_PW, env=WORLD.env())
        owu.add_login(RUNDIR, "viewer", VIEWER_PW, write=False)
        browser = Browser()
        yield browser
    finally:
        if browser is not None:
            browser.close()
        owu.stop()
        pid = _daemon_pid()  # the secumaild the "Start agent" button started: gone before the container is,
        if pid:  # or its reconcile starts the container again
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30, what="secumaild to exit")
        WORLD.teardown()


def _open(b, user: str, password: str, page: str, ready: str) -> str:
    """Log in (the kit's same-origin login page), open `page`, wait for `ready` in the view; its text."""
    b.driver.delete_all_cookies()
    b.get(f"{BASE}/owu-login.html#{user}:{password}:/cgi-bin/luci/admin/services/mailserver/{page}")
    text = b.wait(f"{page}: {ready!r}", lambda: ready in b.text("#view") and "Loading view" not in b.text("#view")
                  and b.text("#view"))  # fmt: skip
    return text


def _check_page(b, page: str, text: str) -> None:
    assert b.js_errors() == [], f"{page}: JavaScript errors"
    assert not SHELL.search(text), f"{page} gives shell advice: {SHELL.search(text).group(0)!r} in {text[:2000]}"
    assert not ISO_DATE.search(text), f"{page} shows a raw ISO date: {ISO_DATE.search(text).group(0)}"


def _dns_plan(text: str, b) -> str:
    """Press "Show plan" (a dry-run job of secumaild, manual provider): the records of the domain."""
    assert WORLD.domain not in text  # the plan is not there before the button
    _click(b, "Show plan")
    return b.wait("the DNS plan", lambda: f"_dmarc.{WORLD.domain}" in b.text("#view") and b.text("#view"), timeout=40)


def _click(b, label: str) -> None:
    found = b.js("var label = arguments[0]; var e = Array.from(document.querySelectorAll('#view button,"
                 " .cbi-page-actions button')).filter(function(e) { return e.innerText.trim() == label; })[0];"
                 " if (e) e.click(); return !!e;", label)  # fmt: skip
    assert found, f"no button {label!r}: {_buttons(b)}"


def _buttons(b) -> list[str]:
    return b.js("return Array.from(document.querySelectorAll('#view button, #view .cbi-button, .cbi-page-actions "
                "button, .cbi-page-actions .cbi-button')).filter(function(e) { return e.offsetParent; })"
                ".map(function(e) { return (e.innerText || e.value || '').trim().split('\\n')[0]; });")  # fmt: skip


def _overview_pictures(b) -> None:
    """The charts as SVG: 24 hours and 30 days of bars, the fixture's 12 messages received and delivered in
    them, a queue line, a storage bar per mailbox; and diagnose's summary with the link to its page."""
    count = "return document.querySelectorAll(arguments[0]).length;"
    assert b.js(count, "#ms-chart-hours g.ms-slot") == 24 and b.js(count, "#ms-chart-days g.ms-slot") == 30
    values = b.js("var out = {}; ['received', 'sent', 'rejected'].forEach(function(s) { out[s] = Array.from("
                  "document.querySelectorAll('#ms-chart-hours rect.ms-' + s)).map(function(r) {"
                  " return +r.getAttribute('data-value'); }); }); return out;")  # fmt: skip
    assert sum(values["received"]) == 12 and sum(values["sent"]) == 12, values
    assert len(values["received"]) == len(values["sent"]) == len(values["rejected"]) >= 1, values
    tall = b.js("return Array.from(document.querySelectorAll('#ms-chart-hours rect.ms-received'))"
                ".map(function(r) { return r.getBBox().height; });")  # fmt: skip
    assert max(tall) > 20, tall  # drawn, not only present
    assert sum(b.js(count, f"#ms-chart-days rect.ms-{s}") for s in ("received", "sent", "rejected")) >= 3
    assert b.js(count, "#ms-chart-queue .ms-line") >= 1
    assert b.js(count, "#ms-chart-storage g.ms-mailbox") == 2
    storage = b.text("#ms-charts")
    assert f"alice@{WORLD.domain}" in storage and "no quota" in storage, storage
    summary = b.wait("diagnose's summary", lambda: re.search(r"\d+ ok\s+\d+ warning\(s\)\s+\d+ failed",
                                                             b.text("#ms-diagnose-summary"), re.I) and
                     b.text("#ms-diagnose-summary"), timeout=60)  # fmt: skip
    failed = int(re.search(r"(\d+) failed", summary, re.I).group(1))  # labels are upper case in LuCI's theme
    assert (b.js(count, "#ms-diagnose-summary ul.ms-problems li") >= failed), summary
    assert "All checks on the Diagnose page" in summary
    assert b.js("return document.querySelector('#ms-diagnose-summary a').getAttribute('href');").endswith(
        "/admin/services/mailserver/diagnose")
    b.js("document.getElementById('ms-diagnose-summary').scrollIntoView();")
    b.screenshot(f"{SHOTS}/overview-charts.png")
    b.js("window.scrollTo(0, 0);")


def test_admin_every_page(luci):
    b = luci
    # Overview: secumaild is not running yet: its own row, a button, and no error or shell advice anywhere
    text = _open(b, "root", ADMIN_PW, "overview", "Agent (secumaild)")
    assert "not running: no jobs" in text.lower() and "Start agent" in _buttons(b), text
    assert re.search(r"DNS check\s+not known while the agent is stopped", text), text
    assert re.search(r"Last backup\s+no backup yet", text), text
    assert f"mail.{WORLD.domain} ({WORLD.domain})" in text and f"{WORLD.name} — RUNNING" in text, text
    assert "Start" not in _buttons(b) and "Stop" in _buttons(b), _buttons(b)  # the container runs
    assert re.search(r"until \d{1,2}/\d{1,2}/\d{4}", text), "the certificate's date is not for humans"
    _check_page(b, "overview", text)
    _overview_pictures(b)
    _click(b, "Start agent")
    b.wait("the agent running", lambda: re.search(r"Agent \(secumaild\)\s+running", b.text("#view")), timeout=40)
    assert _daemon_pid(), "the button did not start secumaild"
    text = b.wait("the DNS row without the agent note", lambda: "not known while" not in b.text("#view")
                  and b.text("#view"))  # fmt: skip
    assert re.search(r"DNS check\s+not checked yet", text), text
    _check_page(b, "overview", text)
    b.screenshot(f"{SHOTS}/overview.png")

    text = _open(b, "root", ADMIN_PW, "accounts", "Mailboxes")
    assert WORLD.domain in text and f"alice@{WORLD.domain}" in text, text
    marked = b.js("return Array.from(document.querySelectorAll('[data-ms=unserved]')).map(function(e) {"
                  " return e.parentNode.innerText; });")  # fmt: skip
    assert len(marked) == 1 and marked[0].startswith(f"demo@{OLD_DOMAIN}"), marked
    assert "Add mailbox" in _buttons(b)
    _check_page(b, "accounts", text)
    b.screenshot(f"{SHOTS}/accounts.png")

    text = _open(b, "root", ADMIN_PW, "mesh", "Snapshots")
    assert "No backup yet" in text and not b.js("return document.querySelectorAll('#view .alert-message.warning')"
                                                ".length"), text  # fmt: skip
    buttons = _buttons(b)
    assert "Back up now" in buttons and "Push to peers" not in buttons and "Pull from peers" not in buttons, buttons
    _check_page(b, "mesh", text)
    b.screenshot(f"{SHOTS}/mesh.png")

    text = _open(b, "root", ADMIN_PW, "logs", "Mail queue")
    assert "The queue is empty" in text and f"to=<alice@{WORLD.domain}>" in text, text
    buttons = _buttons(b)
    assert "Delete all" not in buttons and "Retry all now" not in buttons, buttons
    box = b.wait("the log box filled and scrolled", lambda: b.js(
        "var p = document.getElementById('ms-log'); return p.scrollTop > 0 && [p.scrollTop, p.clientHeight,"
        " p.scrollHeight];"))  # fmt: skip
    assert box[1] < box[2] and box[0] + box[1] >= box[2] - 4, f"the log does not open at its newest lines: {box}"
    _check_page(b, "logs", text)
    b.screenshot(f"{SHOTS}/logs.png")

    text = _dns_plan(_open(b, "root", ADMIN_PW, "dns", "Show plan"), b)
    _check_page(b, "dns", text)
    b.screenshot(f"{SHOTS}/dns.png")

    for page, ready in (("reports", "Reports received"), ("certificates", "Valid until")):
        text = _open(b, "root", ADMIN_PW, page, ready)
        _check_page(b, page, text)
        b.screenshot(f"{SHOTS}/{page}.png")
    assert f"mail.{WORLD.domain}" in text  # the certificate's names


def test_settings_change_lands_in_uci_and_secumaild_applies_it(luci):
    b = luci
    text = _open(b, "root", ADMIN_PW, "settings", "Mail Server settings")
    assert "Read-only access" not in text
    _check_page(b, "settings", text)
    b.screenshot(f"{SHOTS}/settings.png")
    field = b.driver.find_element("id", "widget.cbid.mailserver.ports.submission")
    field.clear()
    field.send_keys("2587")
    b.driver.find_element("css selector", ".cbi-page-actions .cbi-button-apply").click()  # LuCI's "Save & Apply"

    def saved() -> bool:
        with open(os.path.join(WORLD.confdir, "mailserver")) as handle:
            return re.search(r"option submission '2587'", handle.read()) is not None

    b.wait("ports.submission 2587 in /etc/config/mailserver", saved, timeout=60)
    assert b.js_errors() == []

    def answers() -> bool:  # secumaild saw the file, re-rendered Postfix and reloaded it
        try:
            with socket.create_connection((WORLD.ip, 2587), timeout=2) as sock:
                return sock.recv(64).startswith(b"220 ")
        except OSError:
            return False

    b.wait("Postfix answering on the new submission port", answers, timeout=150)
    text = _open(b, "root", ADMIN_PW, "overview", "Agent (secumaild)")
    assert "submission 2587" in text, text


def test_read_only_login_sees_every_page_without_write_controls(luci):
    b = luci
    for page, ready in (("overview", "Agent (secumaild)"), ("settings", "Mail Server settings"),
                        ("accounts", "Mailboxes"), ("dns", "Show plan"), ("reports", "Reports received"),
                        ("certificates", "Valid until"), ("mesh", "Snapshots"), ("logs", "Mail queue")):  # fmt: skip
        text = _open(b, "viewer", VIEWER_PW, page, ready)
        if page == "dns":
            text = _dns_plan(text, b)  # a dry run only reads: offered to this login too
        assert "Read-only access" in text, f"{page}: no read-only note"
        shown = [label for label in _buttons(b) if label in WRITE_LABELS]
        assert shown == [], f"{page} offers write controls to a read-only login: {shown}"
        if page == "settings":
            editable = b.js("return document.querySelectorAll('#view input:not([disabled]):not([type=hidden]),"
                            " #view select:not([disabled])').length")  # fmt: skip
            assert editable == 0, f"{editable} editable Settings fields for a read-only login"
        if page == "accounts":
            assert f"alice@{WORLD.domain}" in text
        _check_page(b, page, text)
        b.screenshot(f"{SHOTS}/{page}-readonly.png")
