"""App passwords in the real container: IMAP, POP3 and submission with them, scopes, revocation at once."""

from __future__ import annotations

import poplib
import smtplib
import time

import pytest

from tests.integration.mail.client import HELO, imap_find, make_message
from tests.integration.mail.test_mail_roundtrip import _sieve_session
from tests.integration.mail.world import PASSWORDS
from tests.support.imapclient import imap_login_ok, tls_context

pytestmark = pytest.mark.integration
USER = "alice@example.org"


@pytest.fixture
def apps(mailworld):
    """add(name, scope) -> token, made the way mailctl makes it (the running container is told)."""
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import accounts

    runtime = ContainerRuntime(mailworld.settings)
    made = []

    def add(name: str, scope: str | None = None) -> str:
        made.append(name)
        return accounts.app_password_add(mailworld.settings, USER, name, scope=scope, runtime=runtime)["password"]

    def revoke(name: str) -> float:
        started = time.monotonic()
        accounts.app_password_del(mailworld.settings, USER, name, runtime=runtime)
        made.remove(name)
        return time.monotonic() - started

    add.revoke = revoke
    yield add
    for name in list(made):
        revoke(name)


def _imap_ok(ip: str, password: str) -> bool:
    return imap_login_ok(ip, USER, password)


def _submit(ip: str, password: str) -> str:
    """Send a message to bob over submission (587, STARTTLS) logged in with `password`; its token."""
    token, msg = make_message("bob@example.org", sender=USER)
    with smtplib.SMTP(ip, 587, local_hostname=HELO, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login(USER, password)
        smtp.sendmail(USER, ["bob@example.org"], msg)
    return token


def test_an_app_password_reads_and_sends_and_the_account_password_still_works(mailworld, apps):
    token = apps("phone")
    assert _imap_ok(mailworld.ip, token)
    sent = _submit(mailworld.ip, token)
    assert sent.encode() in imap_find(mailworld.ip, "bob@example.org", sent)
    pop = poplib.POP3_SSL(mailworld.ip, 995, context=tls_context(), timeout=15)
    try:
        pop.user(USER)
        assert pop.pass_(token).startswith(b"+OK")
    finally:
        pop.quit()
    assert _imap_ok(mailworld.ip, PASSWORDS[USER])
    sent = _submit(mailworld.ip, PASSWORDS[USER])
    imap_find(mailworld.ip, "bob@example.org", sent)


def test_a_revoked_app_password_fails_at_once_and_the_others_keep_working(mailworld, apps):
    phone, laptop = apps("phone"), apps("laptop")
    assert _imap_ok(mailworld.ip, phone) and _imap_ok(mailworld.ip, laptop)  # both now in the auth cache
    seconds = apps.revoke("phone")
    assert seconds < 10.0, f"revoking took {seconds:.2f} s"  # the command (lxc-attach on a loaded machine)
    assert not _imap_ok(mailworld.ip, phone)  # the very next login, no cache delay: what "at once" means
    with pytest.raises(smtplib.SMTPAuthenticationError):
        _submit(mailworld.ip, phone)
    assert _imap_ok(mailworld.ip, laptop)
    assert _imap_ok(mailworld.ip, PASSWORDS[USER])


def test_scope_imap_only_is_refused_on_smtp_and_no_app_password_opens_managesieve(mailworld, apps):
    reader = apps("reader", scope="imap")
    assert _imap_ok(mailworld.ip, reader)
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        _submit(mailworld.ip, reader)
    assert err.value.smtp_code == 535
    sender = apps("sender", scope="smtp")
    assert not _imap_ok(mailworld.ip, sender)
    imap_find(mailworld.ip, "bob@example.org", _submit(mailworld.ip, sender))
    # sieve filters can forward mail elsewhere: changing them needs the account password
    with pytest.raises(AssertionError, match="managesieve login failed"):
        _sieve_session(mailworld.ip, USER, apps("everything", scope="imap,smtp,dav"), [])
    _sieve_session(mailworld.ip, USER, PASSWORDS[USER], [])
