"""Every hosted domain, not only the primary, sends authenticated mail and has its RFC 2142 roles;
a message to an unknown user comes back to its sender as a DSN (issue 15, item 2).

A's user hosts a second domain, c.test (a zone of its own on Knot, see SPARE_ZONES), the way a user
does: `mailctl config set mailserver.dns.zone ''` (the records now go to more than one zone, each found from its
SOA), `mailctl domain add c.test`, a mailbox there, `mailctl dns-setup`. B judges the mail with its own
Rspamd (its Authentication-Results) and the test's checker (dkimpy, pyspf) agrees.
"""

from __future__ import annotations

import email
import email.policy
import uuid

import pytest

from tests.support.authcheck import verdict
from tests.support.inetmail import fetch, submit
from tests.support.internet import PASSWORD, RESOLVER_IP, SPARE_ZONES
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

SECOND = SPARE_ZONES[0]


def verdicts_by(raw: bytes, authserv: str) -> str:
    """The Authentication-Results header the receiving server (`authserv`) wrote, unfolded."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for value in msg.get_all("Authentication-Results", []):
        text = " ".join(value.split())
        if text.startswith(f"{authserv};"):
            return text
    raise AssertionError(f"no Authentication-Results by {authserv} in:\n{raw.decode(errors='replace')[:3000]}")


@pytest.fixture(scope="module")
def second(inet):
    a = inet.a
    a.mailctl("config", "set", "mailserver.dns.zone", "")
    a.mailctl("domain", "add", SECOND)
    a.mailctl("user", "add", f"carol@{SECOND}", "--password-stdin", input=PASSWORD + "\n")
    a.mailctl("dns-setup")
    wait_until(lambda: any(t.startswith('"v=DKIM1;') for t in inet.resolve(f"mail._domainkey.{SECOND}", "TXT")),
               timeout=30, what=f"the DKIM record of {SECOND} at the resolver")  # fmt: skip
    yield f"carol@{SECOND}"
    # Later modules of this world see A as it was (its certificate does not cover c.test's names).
    a.mailctl("user", "del", "--purge", f"carol@{SECOND}", check=False)
    a.mailctl("domain", "del", SECOND, check=False)
    a.mailctl("config", "set", "mailserver.dns.zone", a.domain, check=False)


def test_the_second_domain_publishes_its_own_records(inet, second):
    assert inet.resolve(SECOND, "MX") == [f"10 {inet.a.fqdn}."]
    assert inet.resolve(f"_dmarc.{SECOND}", "TXT") == [f'"v=DMARC1; p=none; rua=mailto:postmaster@{SECOND}"']
    own = inet.resolve(f"mail._domainkey.{SECOND}", "TXT")
    assert own and own != inet.resolve(f"mail._domainkey.{inet.a.domain}", "TXT")  # a key of its own


def test_mail_from_the_second_domain_passes_dkim_and_dmarc_at_b(inet, second):
    token = submit(inet.a, second, inet.b.user("bob"))
    raw = fetch(inet.b, inet.b.user("bob"), token)
    results = verdicts_by(raw, inet.b.fqdn)
    assert f"dkim=pass header.d={SECOND}" in results, results
    assert "spf=pass" in results and "dmarc=pass" in results, results
    v = verdict(raw, RESOLVER_IP)
    assert v.dkim_domain == v.spf_domain == v.from_domain == SECOND and v.dmarc_aligned, v


@pytest.mark.parametrize("role", ["postmaster", "abuse"])
def test_rfc2142_roles_of_every_domain_reach_the_postmaster(inet, second, role):
    """B's user writes to postmaster@ and abuse@ of both of A's domains: each reaches A's postmaster."""
    for domain in (inet.a.domain, SECOND):
        token = submit(inet.b, inet.b.user("bob"), f"{role}@{domain}")
        raw = fetch(inet.a, inet.a.user("postmaster"), token)
        assert f"To: {role}@{domain}".encode() in raw


def test_mail_to_an_unknown_user_returns_a_dsn_to_the_sender(inet):
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@{inet.b.domain}"
    token = submit(inet.a, inet.a.user("alice"), nobody)
    raw = fetch(inet.a, inet.a.user("alice"), token, timeout=90)
    dsn = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert dsn.get_content_type() == "multipart/report", raw[:2000]
    assert dsn.get_param("report-type") == "delivery-status"
    assert "MAILER-DAEMON" in dsn["From"]
    status = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert f"Final-Recipient: rfc822; {nobody}" in text and "Status: 5.1.1" in text, text
    assert f"Remote-MTA: dns; {inet.b.fqdn}" in text, text
