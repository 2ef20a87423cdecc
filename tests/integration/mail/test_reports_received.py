"""Reports mailed to our rua address over SMTP land in the real container's Maildir; `mailctl reports` reads
them back from the host (files owned by the container's mapped ids), refuses the hostile ones, changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import subprocess
import sys
import time

import pytest

from secumail.mail.reports.limits import MiB
from tests.integration.mail.client import HELO
from tests.support import reportmail as rm

pytestmark = pytest.mark.integration

# postmaster@example.org is the rua of example.org (no dns.dmarc_rua); the world's catch-all @example.org
# delivers it to bob. example.net defines no postmaster: its RFC 2142 role leads to postmaster@example.org.
RUA = "postmaster@example.org"
MAILBOX = "bob@example.org"
GOOD = [
    {"ip": "203.0.113.7", "count": 12, "header_from": "example.org", "dkim": "pass", "spf": "pass"},
    {"ip": "198.51.100.9", "count": 3, "header_from": "example.org", "dkim": "fail", "spf": "fail",
     "disposition": "quarantine"},
]


def _send(ip: str, sender: str, data: bytes) -> None:
    with smtplib.SMTP(ip, 25, local_hostname=HELO, timeout=20) as smtp:
        smtp.sendmail(sender, [RUA], data)


def _mailctl(confdir: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SECUMAIL_CONFDIR": confdir, "SECUMAIL_SAVEDIR": confdir + ".save"}
    return subprocess.run([sys.executable, "-m", "secumail.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def _tree(path: str) -> dict[str, tuple[int, int, float]]:
    out = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), path)] = (st.st_uid, st.st_size, st.st_mtime)
    return out


def test_reports_mailed_to_the_rua_show_up_in_mailctl_reports(mailworld, tmp_path):
    confdir = tmp_path / "uci"
    confdir.mkdir()
    (confdir / "mailserver").write_text(
        f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{mailworld.data}'\n")
    day0 = (int(time.time()) // 86400 - 1) * 86400
    _send(mailworld.ip, "noreply-dmarc-support@google.com", rm.google_zip("example.org", day0, GOOD, to=RUA))
    _send(mailworld.ip, "dmarcreport@microsoft.com", rm.microsoft_gzip("example.org", day0, GOOD[:1], to=RUA))
    _send(mailworld.ip, "noreply-smtp-tls-reporting@google.com",
          rm.google_tlsrpt("example.org", "mail.example.org", day0, successful=40,
                           failures={"certificate-expired": 2}, to=RUA))
    for name, attachment, ctype in [
        ("laughs.xml", rm.BILLION_LAUGHS, "text/xml"),
        ("bomb.xml.gz", rm.gzip_bomb(256 * MiB), "application/gzip"),
    ]:
        _send(mailworld.ip, "reports@evil.example", rm.report_mail(
            to=RUA, sender="reports@evil.example", subject=f"Report {name}", attachment=attachment, filename=name,
            content_type=ctype, when=dt.datetime.now(dt.timezone.utc)))

    deadline = time.monotonic() + 60
    while True:
        result = _mailctl(str(confdir), "--json", "reports")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        if (data["dmarc"]["reports"], data["tls"]["reports"], len(data["refused"])) == (2, 1, 2):
            break
        assert time.monotonic() < deadline, f"reports did not arrive within 60 s: {data}"
        time.sleep(1)

    assert [(b["address"], b["domains"]) for b in data["mailboxes"]] == [(MAILBOX, ["example.net", "example.org"])]
    assert [(s["source_ip"], s["messages"], s["dmarc_fail"]) for s in data["dmarc"]["sources"]] == [
        ("198.51.100.9", 3, 3), ("203.0.113.7", 24, 0)]
    assert [(o["org"], o["messages"]) for o in data["dmarc"]["orgs"]] == [("google.com", 15),
                                                                         ("Enterprise Outlook", 12)]
    assert data["tls"]["domains"][0]["failures"] == {"certificate-expired": 2}
    assert sorted(line.split(": ", 1)[1] for line in data["refused"]) == [
        f"bomb.xml.gz: gzip inflates to more than {32 * MiB} bytes",
        "laughs.xml: XML with a DOCTYPE (DTDs and entities are refused)"]
    assert data["notes"] == []

    # read as the host reads it: the files stay the container's, where they were
    box = os.path.join(mailworld.data, "mail", "example.org", "bob")
    before = _tree(box)
    assert all(uid != 0 for uid, _size, _mtime in before.values())
    text = _mailctl(str(confdir), "reports")
    assert text.returncode == 0 and text.stderr == ""
    assert "DMARC: 2 report(s) on 27 message(s): 24 passed, 3 failed" in text.stdout
    assert _tree(box) == before
    bad = _mailctl(str(confdir), "reports", "--days", "0")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.count("\n") == 1 and "--days" in bad.stderr

