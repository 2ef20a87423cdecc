"""mailctl reports as a user meets it: the report mailboxes read, the summary, --json, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from secumail.mail import store
from tests.support import reportmail as rm

NOW = time.time()
DAY0 = (int(NOW) // 86400 - 2) * 86400  # the day before yesterday, 00:00 UTC
OLD = DAY0 - 40 * 86400
GOOD = [
    {"ip": "203.0.113.7", "count": 12, "header_from": "example.org", "dkim": "pass", "spf": "pass"},
    {"ip": "198.51.100.9", "count": 3, "header_from": "example.org", "dkim": "fail", "spf": "fail",
     "disposition": "quarantine"},
]


def _accounts(data, *, aliases=None, domains=("example.net",)):
    accounts = store.Accounts(primary="example.org", extra_domains=list(domains),
                              users={"admin@example.org": store.User("admin@example.org", "{BLF-CRYPT}$2y$x")},
                              aliases=aliases if aliases is not None else {"postmaster@example.org":
                                                                           ["admin@example.org"]})
    store.save(str(data), accounts)


@pytest.fixture
def mailbox(data):
    return build_mailbox(data)


def build_mailbox(data) -> str:
    """admin@example.org receives postmaster@example.org's mail, and example.net's: that domain defines no
    postmaster@, so the RFC 2142 role (secumail.mail.roles) leads to the server's postmaster."""
    _accounts(data)
    box = str(data / "mail" / "example.org" / "admin")
    mails = [
        ("1.google", rm.google_zip("example.org", DAY0, GOOD), "new", ""),
        ("2.microsoft", rm.microsoft_gzip("example.org", DAY0 + 86400, GOOD[:1]), "cur", ""),
        ("3.tlsrpt", rm.google_tlsrpt("example.org", "mail.example.org", DAY0, successful=40,
                                      failures={"certificate-expired": 2, "starttls-not-supported": 1}), "new", ""),
        ("4.laughs", rm.report_mail(to="postmaster@example.org", sender="x@evil.example", subject="Report",
                                    attachment=rm.gz(rm.BILLION_LAUGHS), filename="evil.xml.gz",
                                    content_type="application/gzip", when=dt.datetime.now(dt.timezone.utc)),
         "new", ".Junk"),
        ("5.copy", rm.google_zip("example.org", DAY0, GOOD), "cur", ".Archive"),  # the same report again
        ("6.old", rm.google_zip("example.org", OLD, GOOD[1:], report_id="old-1"), "cur", ""),
        ("7.trash", rm.google_zip("example.org", DAY0, GOOD, report_id="trashed"), "cur", ".Trash"),
        ("8.hello", b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n", "new", ""),
    ]
    for name, body, sub, folder in mails:
        when = OLD + 3600 if name == "6.old" else NOW - 3600
        rm.deliver(os.path.join(box, folder) if folder else box, body, name=f"{name},S={len(body)}", mtime=when,
                   sub=sub)
    return box


def _tree(path: str) -> dict[str, tuple[int, float]]:
    out = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), path)] = (st.st_size, st.st_mtime)
    return out


def test_reports_text(cli, mailbox):
    before = _tree(mailbox)
    result = cli("reports")
    assert result.code == 0, result
    out = result.out
    first = f"{time.strftime('%Y-%m-%d', time.gmtime(DAY0))}"
    last = f"{time.strftime('%Y-%m-%d', time.gmtime(DAY0 + 2 * 86400 - 1))}"
    assert out.splitlines()[0] == (f"Reports that ended in the last 30 days: {first} to {last}; "
                                   "read from admin@example.org (6 messages).")
    assert "DMARC: 2 report(s) on 27 message(s): 24 passed, 3 failed (pass/fail per column)" in out
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("SOURCE_IP")))
    assert lines[header].split() == ["SOURCE_IP", "DOMAIN", "MESSAGES", "SPF", "DKIM", "DMARC", "DISPOSITION",
                                     "REPORTED_BY"]
    # failures first
    assert lines[header + 1].split() == ["198.51.100.9", "example.org", "3", "0/3", "0/3", "0/3", "quarantine",
                                         "3", "google.com"]
    assert lines[header + 2].split() == ["203.0.113.7", "example.org", "24", "24/0", "24/0", "24/0", "none", "24",
                                         "google.com,", "Enterprise", "Outlook"]
    assert any(line.split()[:5] == ["google.com", "1", "15", "12/3", first] for line in lines)
    assert "TLS-RPT: 1 report(s): 40 successful, 3 failed session(s)" in out
    tls = next(line for line in lines if line.startswith("example.org  sts"))
    assert tls.split() == ["example.org", "sts", "40", "3", "certificate-expired", "2,", "starttls-not-supported",
                           "1", "Google", "Inc."]
    assert [line for line in lines if line.startswith("note:")] == []  # example.net's rua reaches admin too
    assert [line for line in lines if line.startswith("refused:")] == [
        "refused: admin@example.org .Junk/new/4.laughs,S=" + str(_size(mailbox, ".Junk/new"))
        + ": evil.xml.gz: XML with a DOCTYPE (DTDs and entities are refused)"]
    assert result.err == ""
    assert _tree(mailbox) == before  # nothing renamed, nothing touched: new/ stays new


def _size(box: str, sub: str) -> int:
    (name,) = os.listdir(os.path.join(box, sub))
    return int(name.rpartition("S=")[2])


def test_reports_json_shape(cli, mailbox):
    result = cli("reports", "--json", "--days", "60")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert set(data) == {"days", "since", "first", "last", "mailboxes", "dmarc", "tls", "notes", "refused"}
    assert data["days"] == 60
    assert data["mailboxes"] == [{"address": "admin@example.org", "domains": ["example.net", "example.org"],
                                  "messages": 7,
                                  "reports": 4}]
    assert data["first"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(OLD))
    dmarc = data["dmarc"]
    assert (dmarc["reports"], dmarc["messages"], dmarc["dmarc_pass"], dmarc["dmarc_fail"]) == (3, 30, 24, 6)
    assert dmarc["sources"][0] == {
        "source_ip": "198.51.100.9", "domain": "example.org", "messages": 6, "spf_pass": 0, "spf_fail": 6,
        "dkim_pass": 0, "dkim_fail": 6, "dmarc_pass": 0, "dmarc_fail": 6, "dispositions": {"quarantine": 6},
        "orgs": ["google.com"]}
    assert [(o["org"], o["reports"], o["messages"]) for o in dmarc["orgs"]] == [
        ("google.com", 2, 18), ("Enterprise Outlook", 1, 12)]
    assert data["tls"] == {"reports": 1, "successful": 40, "failed": 3, "domains": [{
        "domain": "example.org", "policy_type": "sts", "successful": 40, "failed": 3,
        "failures": {"certificate-expired": 2, "starttls-not-supported": 1}, "orgs": ["Google Inc."]}]}
    assert len(data["refused"]) == 1


def test_the_rua_of_dns_dmarc_rua_is_followed(cli, data, settings, monkeypatch, mailbox):
    import dataclasses

    import secumail.config

    dns = dataclasses.replace(settings.dns, dmarc_rua="reports@example.org")
    moved = dataclasses.replace(settings, dns=dns)
    monkeypatch.setattr(secumail.config, "load_settings", lambda *a, **k: moved)
    _accounts(data, aliases={"reports@example.org": ["admin@example.org"]})
    data_json = json.loads(cli("reports", "--json").out)
    assert data_json["mailboxes"][0]["domains"] == ["example.net", "example.org"]
    assert data_json["notes"] == []
    assert data_json["dmarc"]["reports"] == 2


def test_no_report_mailbox_says_so(cli, data):
    _accounts(data, aliases={}, domains=())
    result = cli("reports")
    assert result.code == 0
    assert "read from no mailbox" in result.out
    assert ("note: example.org: reports go to postmaster@example.org, which is no mailbox here "
            "(create it: mailctl user add postmaster@example.org, or set mailserver.dns.dmarc_rua)") in result.out


@pytest.mark.parametrize("days", ["0", "367", "x", "-3", "1.5"])
def test_bad_days_is_one_line_exit_2(cli, days):
    result = cli("reports", f"--days={days}")
    assert result.code == 2
    assert result.out == ""
    assert result.err == (f"mailctl reports: argument --days: {days!r} is not a number of days (1-366) "
                          "(see 'mailctl reports --help')\n")


def test_a_link_planted_in_the_maildir_is_not_followed(cli, mailbox, tmp_path):
    secret = tmp_path / "host-secret.eml"
    secret.write_bytes(rm.google_zip("example.org", DAY0, GOOD, report_id="from-the-host"))
    os.symlink(secret, os.path.join(mailbox, "new", "9.link"))
    os.mkfifo(os.path.join(mailbox, "new", "10.fifo"))
    os.symlink(str(tmp_path), os.path.join(mailbox, ".Linked"))
    result = cli("reports", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["mailboxes"][0]["messages"] == 6
    assert data["dmarc"]["reports"] == 2


def test_a_maildir_that_is_a_link_is_not_read(cli, data, mailbox, tmp_path):
    os.rename(mailbox, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", mailbox)
    data_json = json.loads(cli("reports", "--json").out)
    assert data_json["dmarc"]["reports"] == 0
    assert data_json["notes"][-1] == (f"admin@example.org: Maildir {mailbox} not read (Not a directory; "
                                      "links are not followed)")  # O_DIRECTORY|O_NOFOLLOW on a link


def test_rpc_get_reports_is_a_read_method_with_the_same_summary(cli, mailbox):
    from secumail.cli import rpc
    from secumail.cli.base import Context

    assert rpc.METHODS["getReports"].writes() is False
    assert rpc.signatures()["getReports"] == {"days": 0}
    reply = rpc.answer(Context(json=True), "getReports", json.dumps({"days": 60, "ubus_rpc_session": "x"}))
    shown = json.loads(cli("reports", "--json", "--days", "60").out)
    assert {**reply, "since": None} == {**shown, "since": None}  # `since` is now - 60 days: may tick between
    assert rpc.answer(Context(json=True), "getReports", '{"days": 0}') == {
        "error": "days: 0 is out of range (1-366)", "code": 2}


def test_rua_delivery_follows_postfix():
    from secumail.mail.reports.mailboxes import delivered_to, report_mailboxes
    from secumail.mail.roles import role_aliases

    accounts = store.Accounts(
        primary="example.org", extra_domains=["example.net"],
        users={a: store.User(a, "x") for a in ("admin@example.org", "keep@example.org", "carol@example.net")},
        aliases={"postmaster@example.org": ["admin@example.org", "keep@example.org", "out@elsewhere.test"],
                 "keep@example.org": ["keep@example.org", "backup@example.net"],
                 "backup@example.net": ["carol@example.net"], "@example.net": ["carol@example.net"],
                 "loop@example.org": ["loop2@example.org"], "loop2@example.org": ["loop@example.org"]})
    assert delivered_to(accounts, "postmaster@example.org") == ["admin@example.org", "keep@example.org",
                                                                "carol@example.net"]
    assert delivered_to(accounts, "admin+dmarc@example.org") == ["admin@example.org"]  # recipient delimiter
    assert delivered_to(accounts, "postmaster@example.net") == ["carol@example.net"]  # catch-all
    # Postfix asks the RFC 2142 role map (secumail.mail.roles) before falling back to the catch-all
    roles = role_aliases(accounts.domains, "postmaster@example.org")
    assert delivered_to(accounts, "postmaster@example.net", roles) == ["admin@example.org", "keep@example.org",
                                                                       "carol@example.net"]
    assert delivered_to(accounts, "abuse+x@example.org", roles) == ["admin@example.org", "keep@example.org",
                                                                    "carol@example.net"]
    assert delivered_to(accounts, "carol@example.net", roles) == ["carol@example.net"]
    assert delivered_to(accounts, "nobody@example.org") == []
    assert delivered_to(accounts, "loop@example.org") == []
    boxes, notes = report_mailboxes(accounts, "", "postmaster")
    assert [(b.address, b.domains) for b in boxes] == [  # example.net: its postmaster@ role, not the catch-all
        ("admin@example.org", ["example.net", "example.org"]), ("carol@example.net", ["example.net", "example.org"]),
        ("keep@example.org", ["example.net", "example.org"])]
    assert notes == []
    boxes, notes = report_mailboxes(accounts, "dmarc@reports.test", "postmaster")
    assert boxes == [] and notes == [
        "example.net: reports go to dmarc@reports.test, outside this server's domains (read them there)",
        "example.org: reports go to dmarc@reports.test, outside this server's domains (read them there)"]


def test_reading_stops_at_the_time_budget_with_a_note(settings, mailbox):
    from secumail.mail.reports.collect import collect
    from secumail.mail.reports.limits import Limits

    data = collect(settings, 30, limits=Limits(seconds=0))
    assert data["mailboxes"][0]["messages"] == 0
    assert data["notes"][-1] == ("admin@example.org: stopped after 0 s, 6 older message(s) not read "
                                 "(ask for fewer --days)")
    data = collect(settings, 30, limits=Limits(messages=2))
    assert data["mailboxes"][0]["messages"] == 2
    assert data["notes"][-1] == "admin@example.org: 6 messages in the window, only the newest 2 were read"
