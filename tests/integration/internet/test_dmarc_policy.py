"""B acts on A's published DMARC policy when a third host forges mail from a.test (issue 15).

A's user changes `dns.dmarc_policy` with `mailctl config set` and republishes with `mailctl dns-setup`;
the forger (198.51.100.66) then delivers a message claiming alice@a.test to B's MX. B's Rspamd
(secumail.mail.spam, rspamd/local.d/dmarc.conf) refuses it at SMTP time under p=reject and files it
into bob's Junk under p=quarantine, read back over IMAPS. A's policy is back at `none` afterwards.
"""

from __future__ import annotations

import imaplib
import os
import uuid

import pytest

from tests.support.imapclient import tls_context
from tests.support.inetmail import fetch
from tests.support.internet import PASSWORD, Internet, Site
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def publish_policy(net: Internet, site: Site, policy: str) -> None:
    """What the user does: set the option, republish, and (here) wait until the resolver answers it."""
    site.mailctl("config", "set", "mailserver.dns.dmarc_policy", policy)
    site.mailctl("dns-setup")
    wait_until(lambda: any(f"p={policy};" in txt for txt in net.resolve(f"_dmarc.{site.domain}", "TXT")),
               timeout=30, what=f"_dmarc.{site.domain} to say p={policy}")  # fmt: skip


def in_folder(site: Site, user: str, folder: str, token: str) -> bool:
    with imaplib.IMAP4_SSL(site.wan_ip, 993, ssl_context=tls_context(), timeout=15) as imap:
        imap.login(user, PASSWORD)
        imap.select(folder, readonly=True)
        _, found = imap.search(None, "BODY", token)
        return bool(found[0])


def rspamd_says(site: Site, token: str) -> str:
    """Rspamd's log lines about the message (its symbols and action), for a failure's message."""
    path = os.path.join(site.lxc_path, site.container, "rootfs", "var", "log", "rspamd.log")
    try:
        with open(path, errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        return f"({path}: {exc})"
    return "\n".join(line for line in lines if token in line or "(default:" in line)[-3000:]


@pytest.fixture
def policy(inet):
    """Set A's policy for one test; `none` again afterwards (the other tests' forgeries must arrive)."""
    yield lambda value: publish_policy(inet, inet.a, value)
    publish_policy(inet, inet.a, "none")


def test_forgery_of_a_domain_with_p_reject_is_refused_at_smtp_time(inet, policy):
    policy("reject")
    token = uuid.uuid4().hex
    code, said = inet.forger_try(inet.b, inet.a.user("alice"), inet.b.user("bob"), token)
    # refused while the forger is still connected: no bounce goes to the address it forged
    assert 500 <= code < 600, f"{code} {said}\n{rspamd_says(inet.b, token)}"
    assert not in_folder(inet.b, inet.b.user("bob"), "INBOX", token)
    assert not in_folder(inet.b, inet.b.user("bob"), "Junk", token)


def test_forgery_of_a_domain_with_p_quarantine_lands_in_junk(inet, policy):
    policy("quarantine")
    token = uuid.uuid4().hex
    assert inet.forger_try(inet.b, inet.a.user("alice"), inet.b.user("bob"), token) == (250, "")
    try:
        raw = fetch(inet.b, inet.b.user("bob"), token, folder="Junk", timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{rspamd_says(inet.b, token)}") from None
    assert b"dmarc=fail" in raw and b"X-Spam: Yes" in raw
    assert not in_folder(inet.b, inet.b.user("bob"), "INBOX", token)


def test_genuine_mail_of_a_domain_with_p_reject_still_arrives(inet, policy):
    """Enforcement hits forgeries only: alice's own mail through A passes DMARC and reaches the inbox."""
    from tests.support.inetmail import submit

    policy("reject")
    token = submit(inet.a, inet.a.user("alice"), inet.b.user("bob"))
    raw = fetch(inet.b, inet.b.user("bob"), token)
    assert b"dmarc=pass" in raw
