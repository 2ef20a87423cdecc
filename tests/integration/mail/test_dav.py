"""Calendars and contacts (features.dav) in the real container: Radicale with logins checked by Dovecot."""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
import urllib.error
import urllib.request
import uuid

import pytest

from secumail.mail.fail2ban import Failure, container_logs, parse_line
from tests.integration.mail.world import PASSWORDS
from tests.support.wait import port_open, wait_port, wait_until

pytestmark = pytest.mark.integration
caldav = pytest.importorskip("caldav", reason="caldav (PyPI, test extra) is not installed")
ALICE, BOB = "alice@example.org", "bob@example.org"
PORT = 5232
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//secumail test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261206T040000Z
DTSTART:20261224T180000Z
DTEND:20261224T220000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""
VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEMAIL:{email}\r\nEND:VCARD\r\n"


def _deploy(mailworld, settings) -> None:
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import deploy

    deploy.deploy(settings, mailworld.lxc.container, hand_over=ContainerRuntime(settings).hand_over)


def _dav_settings(settings, on: bool):
    return dataclasses.replace(settings, features=dataclasses.replace(settings.features, dav=on))


@pytest.fixture(scope="module")
def dav(mailworld):
    """The session's container with features.dav on; off again (as the world had it) afterwards."""
    on = _dav_settings(mailworld.settings, True)
    _deploy(mailworld, on)
    wait_port(mailworld.ip, PORT, timeout=30)
    yield on
    _deploy(mailworld, _dav_settings(mailworld.settings, False))


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False  # the self-signed certificate of mail.example.org, reached by address
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


def request(ip: str, method: str, path: str, user: str, password: str, body: bytes | None = None,
            content_type: str = "text/plain") -> tuple[int, bytes, dict]:
    """(status, body, headers) of one HTTPS request to Radicale with Basic authentication; no redirects followed."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(f"https://{ip}:{PORT}{path}", data=body, method=method,
                                 headers={"Authorization": f"Basic {auth}", "Content-Type": content_type,
                                          "Depth": "0"})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=_context()), _NoRedirect)
    try:
        with opener.open(req, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _client(ip: str, user: str, password: str):
    return caldav.DAVClient(url=f"https://{ip}:{PORT}/", username=user, password=password, ssl_verify_cert=False)


def test_an_event_and_a_contact_are_read_back_by_their_owner_and_by_nobody_else(mailworld, dav):
    summary = f"Dinner {uuid.uuid4().hex[:8]}"
    principal = _client(mailworld.ip, ALICE, PASSWORDS[ALICE]).principal()
    calendar = principal.make_calendar(name="Family", cal_id=f"family-{uuid.uuid4().hex[:6]}")
    calendar.save_event(EVENT.format(uid=uuid.uuid4(), summary=summary))
    # read back through a new client session: what the server stored, not what the client kept
    again = _client(mailworld.ip, ALICE, PASSWORDS[ALICE]).calendar(url=calendar.url)
    events = again.events()
    assert len(events) == 1 and f"SUMMARY:{summary}" in events[0].data

    book = f"/{ALICE}/contacts-{uuid.uuid4().hex[:6]}/"
    mkcol = (b'<?xml version="1.0"?><mkcol xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><set><prop>'
             b"<resourcetype><collection/><C:addressbook/></resourcetype></prop></set></mkcol>")
    assert request(mailworld.ip, "MKCOL", book, ALICE, PASSWORDS[ALICE], mkcol, "application/xml")[0] == 201
    card = VCARD.format(uid=uuid.uuid4(), name="Carol Example", email="carol@example.net").encode()
    status, _, _ = request(mailworld.ip, "PUT", book + "carol.vcf", ALICE, PASSWORDS[ALICE], card, "text/vcard")
    assert status == 201
    status, got, _ = request(mailworld.ip, "GET", book + "carol.vcf", ALICE, PASSWORDS[ALICE])
    assert status == 200 and b"FN:Carol Example" in got and b"carol@example.net" in got

    event_path = str(calendar.url).split(f":{PORT}", 1)[1]
    for path in (event_path, book + "carol.vcf", book, f"/{ALICE}/"):
        status, got, _ = request(mailworld.ip, "GET" if path.endswith(".vcf") else "PROPFIND", path,
                                 BOB, PASSWORDS[BOB])
        assert status in (403, 404), (path, status, got[:200])
        assert summary.encode() not in got and b"Carol" not in got
    with pytest.raises(caldav.lib.error.DAVError):
        _client(mailworld.ip, BOB, PASSWORDS[BOB]).calendar(url=calendar.url).events()


def test_well_known_paths_lead_to_the_root(mailworld, dav):
    for name in ("caldav", "carddav"):
        status, _, headers = request(mailworld.ip, "GET", f"/.well-known/{name}", ALICE, PASSWORDS[ALICE])
        assert status in (301, 302, 303, 307, 308) and headers["Location"] == "/", (status, headers)


def test_wrong_passwords_are_refused(mailworld, dav):
    assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, "not-the-password")[0] == 401
    assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, PASSWORDS[BOB])[0] == 401
    assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, PASSWORDS[ALICE])[0] == 207


def test_a_refused_login_names_the_client_for_fail2ban_and_the_metrics(mailworld, dav):
    log = os.path.join(mailworld.lxc.rootfs, "var/log/radicale.log")
    assert log in container_logs(dav)  # fail2ban and the metrics follow it

    def failures() -> list:
        with open(log, errors="replace") as handle:
            return [f for f in map(parse_line, handle) if f is not None]

    before = failures()
    assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, "not-the-password-f2b")[0] == 401
    new = wait_until(lambda: failures()[len(before):], timeout=10, what="a DAV auth failure in radicale.log")
    assert new == [Failure("dav", mailworld.lxc.host_ip)]
    # a good login is no failure
    assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, PASSWORDS[ALICE])[0] == 207
    assert len(failures()) == len(before) + 1


def test_app_passwords_of_scope_dav_open_it_and_a_revoked_one_fails_at_once(mailworld, dav):
    from secumail.appliance.ownership import ContainerRuntime
    from secumail.mail import accounts

    runtime = ContainerRuntime(mailworld.settings)

    def add(name: str, scope: str) -> str:
        return accounts.app_password_add(dav, ALICE, name, scope=scope, runtime=runtime)["password"]

    phone, mail_only = add("dav-phone", "dav"), add("dav-mailonly", "imap")
    try:
        assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, phone)[0] == 207
        principal = _client(mailworld.ip, ALICE, phone).principal()
        assert principal.calendars() is not None
        assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, mail_only)[0] == 401
        accounts.app_password_del(dav, ALICE, "dav-phone", runtime=runtime)
        assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, phone)[0] == 401  # the very next request
        assert request(mailworld.ip, "PROPFIND", f"/{ALICE}/", ALICE, PASSWORDS[ALICE])[0] == 207
    finally:
        for name in ("dav-phone", "dav-mailonly"):
            if any(a["name"] == name for a in accounts.app_password_list(dav, ALICE)):
                accounts.app_password_del(dav, ALICE, name, runtime=runtime)


def test_with_dav_off_nothing_listens_and_nothing_runs(mailworld, dav):
    _deploy(mailworld, _dav_settings(mailworld.settings, False))
    wait_until(lambda: not port_open(mailworld.ip, PORT), timeout=10, what=f"port {PORT} closed")
    cmdlines = mailworld.exec(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).stdout
    assert "dovecot" in cmdlines and "radicale" not in cmdlines
