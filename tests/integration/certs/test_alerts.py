"""secumaild's alerts end to end: an expiring certificate whose renewal fails is ONE mail in the postmaster's
mailbox however often the checks run, and its resolution is ONE more.

World: the `mailsite` of conftest.py (a real mail container, the session's Knot and pebble) with
main.enabled=1, and secumaild on it at 60 × speed (--time-scale), alerts.interval 1m: the checks run
back to back (each run is one `mailctl diagnose`, a few seconds). The mails are read from the
postmaster's Maildir, where Dovecot delivered them.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import glob
import json
import os
import re

import pytest

from tests.integration.certs.mailsite import FQDN, WORK
from tests.integration.certs.world import EAB
from tests.integration.daemon.secumaild import Daemon
from tests.support.procs import descendants
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

POSTMASTER = "postmaster@example.test"


def mailbox(site) -> list[email.message.EmailMessage]:
    """The postmaster's messages, oldest first."""
    files = glob.glob(os.path.join(site.data, "mail", "example.test", "postmaster", "[nc][eu][wr]", "*"))
    messages = []
    for path in sorted(files, key=os.path.getmtime):
        with open(path, "rb") as handle:
            messages.append(email.message_from_binary_file(handle, policy=email.policy.default))
    return messages


def alert_subjects(site) -> list[str]:
    return [str(m["Subject"]) for m in mailbox(site) if "certificate" in str(m["Subject"])]


def runs(daemon: Daemon) -> int:
    """Alerts jobs secumaild has finished (its --debug log names each job it starts and ends)."""
    return len(re.findall(r"job \S+ \(alerts\) (?:done|failed)", daemon.logtext()))


@pytest.fixture
def secumaild(mailsite, servers):
    from secumail.errors import InputError
    from secumail.mail import accounts

    site = mailsite
    settings = site.settings
    with contextlib.suppress(InputError):  # the primary domain may be there already
        accounts.domain_add(settings, "example.test")
    accounts.user_add(settings, POSTMASTER, "postmaster-pass-1")
    site.update(main={"enabled": "1"}, features={"fail2ban": "0"}, dns={"follow_wan": "0"},
                alerts={"interval": "1m"})  # fmt: skip
    daemon = Daemon(os.path.join(WORK, "daemon"), args=("--time-scale", "60"), confdir=site.confdir)
    os.makedirs(daemon.root, exist_ok=True)
    try:
        yield daemon
    finally:
        daemon.stop()
        for pid in descendants(daemon.proc.pid) if daemon.proc else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        with contextlib.suppress(OSError):  # kept for a look after a failure
            os.replace(daemon.log, "/tmp/secumail-alerts-test.log")


def test_an_expiring_certificate_whose_renewal_fails_is_one_mail_and_its_resolution_one_more(
    mailsite, servers, secumaild, tmp_path
):
    site = mailsite
    # a one-day certificate from pebble (fewer than 14 days left), then its renewal fails: Knot refuses
    # the challenge's update signed with a TSIG secret it does not know
    assert site.mailctl("ssl-setup").returncode == 0
    with open(site.credentials) as handle:
        good_secret = handle.read()
    with open(site.credentials, "w") as handle:
        handle.write("[rfc2136]\nkey_name=secumail-test\nkey_secret=" + "A" * 43 + "=\n")
    assert site.mailctl("ssl-setup", "--force").returncode == 1
    checks = json.loads(site.mailctl("--json", "diagnose").stdout)["checks"]
    assert [c["status"] for c in checks if c["id"] == "certificate"] == ["warn"], checks

    secumaild.start()
    wait_until(lambda: runs(secumaild) >= 4, timeout=180, interval=1, what="four runs of the alerts job")

    subjects = alert_subjects(site)
    assert len(subjects) == 1, subjects
    assert subjects[0].startswith(f"[secumail] {FQDN}: certificate: "), subjects
    alert = next(m for m in mailbox(site) if "certificate" in str(m["Subject"]))
    assert alert["From"] == f"Mail Delivery System <MAILER-DAEMON@{FQDN}>"
    assert alert["Return-Path"] == "<>"  # nobody answers a notice: no bounce comes back
    assert alert.get_content_type() == "text/plain"
    body = alert.get_content()
    assert "failed renewal" in body and "How to fix it: fix the renewal error" in body
    assert len(re.findall(r"alert problem certificate warn: ", secumaild.logtext())) == 1

    # a restart: the state file remembers the mail was sent
    secumaild.stop()
    before = runs(secumaild)
    secumaild.start()
    wait_until(lambda: runs(secumaild) >= before + 2, timeout=120, interval=1, what="two more runs")
    assert len(alert_subjects(site)) == 1

    # fixed: the good secret again, and a CA that issues certificates for years (the EAB pebble)
    with open(site.credentials, "w") as handle:
        handle.write(good_secret)
    hmac_file = tmp_path / "eab.secret"
    hmac_file.write_text(EAB["kid-1"] + "\n")
    os.chmod(hmac_file, 0o600)
    eab = servers["eab_pebble"]
    site.update(acme={"directory": eab.directory, "ca_bundle": eab.ca_file, "eab_kid": "kid-1",
                      "eab_hmac_file": str(hmac_file)})  # fmt: skip
    renewed = site.mailctl("ssl-setup", "--force")
    assert renewed.returncode == 0, renewed.stderr
    before = runs(secumaild)
    wait_until(lambda: runs(secumaild) >= before + 3, timeout=120, interval=1, what="three more runs")

    subjects = alert_subjects(site)
    assert subjects[1:] == [f"[secumail] {FQDN}: resolved: certificate"], subjects
    assert len(subjects) == 2
    assert len(re.findall(r"alert resolved certificate warn: ", secumaild.logtext())) == 1
