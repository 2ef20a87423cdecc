"""The LuCI setup wizard in a real LuCI, walked by headless Chromium on an unconfigured appliance against
the session's Knot and pebble (tests/integration/luci/wizardwalk.py): a wrong DNS key says what to fix,
the plan is shown before it is applied, install and certificate show progress, the last page has the
client settings and a QR code that decodes to the phone profile's address, and a message sent to the new
mailbox arrives. bench/setup_wizard.py runs the same walk and records its time in bench/RESULTS.md."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.integration.certs import world as certworld
from tests.integration.luci import wizardwalk
from tests.integration.lxcworld import ensure_apt_packages, need_root
from tests.support import apt, owu

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser(servers):
    reason = owu.missing()
    if reason:
        pytest.skip(reason)
    need_root()
    ensure_apt_packages()
    why = apt.install(("chromium", "chromium-driver", "openssl", "zbar-tools"))
    if why:
        pytest.skip(why)
    pytest.importorskip("selenium", reason="needs selenium (pip install -e '.[test]')")
    from tests.support.browser import Browser

    servers["knot"].restart_fresh()  # the session's zone without records another test's key published
    try:
        with wizardwalk.luci_world():
            b = Browser()
            try:
                yield b
            finally:
                b.close()
    finally:
        servers["knot"].restart_fresh()  # and without ours, for the next test of the session


def test_wizard_from_the_first_page_to_a_message_in_the_new_mailbox(browser, servers, tmp_path):
    walk = wizardwalk.walk(browser, servers)
    assert "TSIG" in walk.failed_reason, walk.failed_reason
    assert f"_dmarc.{certworld.ZONE}" in walk.plan_text and "TXT" in walk.plan_text, walk.plan_text
    assert walk.progress_seen, "no progress bar while the long steps ran"
    assert f"alice@{certworld.ZONE}" in walk.client_text and "IMAP" in walk.client_text
    assert walk.profile_url.startswith(f"https://autoconfig.{certworld.ZONE}/profile/")
    if shutil.which("zbarimg"):
        assert wizardwalk.decode_qr(walk.qr_png, str(tmp_path)) == walk.profile_url
    name = walk.profile_url.rsplit("/", 1)[1]
    profile = f"{wizardwalk.WORK}/data/autoconfig/{certworld.ZONE}/profile/{name}"
    with open(profile, "rb") as handle:
        assert b"com.apple.mail.managed" in handle.read()
    assert browser.js_errors() == []
    marks = walk.marks
    print(f"\nsetup wizard, seconds from the first page: {marks}")
    assert list(marks) == ["wizard open", "DNS provider tested", "DNS records published", "container installed",
                           "certificate issued", "client page", "message received"]
    assert os.path.exists(f"{wizardwalk.WORK}/dns.secret")
