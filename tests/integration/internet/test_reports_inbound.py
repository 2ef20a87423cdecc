"""Reports other receivers send about A's domain arrive over the simulated internet and show up in A's
`mailctl reports --json`; hostile ones are refused without harm (issue 15, item 6).

B plays the receiver that reports: its user (bob@b.test) mails a DMARC aggregate report (RFC 7489 XML,
gzip) and a TLS-RPT report (RFC 8460 JSON, gzip, multipart/report) about a.test to A's rua address
(postmaster@a.test, published in A's _dmarc and _smtp._tls records), through B's submission and B's
delivery to A's MX. Two hostile reports follow the same way: an entity expansion (billion laughs) and
a gzip that inflates to 256 MiB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from secumail.mail.reports.limits import MiB
from tests.support import reportmail as rm
from tests.support.inetmail import submit_raw
from tests.support.internet import FORGER

pytestmark = pytest.mark.integration


def _tree(path: str) -> dict[str, tuple[int, float]]:
    out = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), path)] = (st.st_size, st.st_mtime)
    return out


def _reports(site) -> dict:
    done = site.mailctl("--json", "reports", check=False, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done
    return json.loads(done.stdout)


def test_reports_mailed_to_the_rua_show_up_and_hostile_ones_are_refused(inet):
    a, b = inet.a, inet.b
    (rua,) = [t for t in inet.resolve(f"_dmarc.{a.domain}", "TXT")]
    rua = rua.split("rua=mailto:", 1)[1].rstrip('";')
    assert inet.resolve(f"_smtp._tls.{a.domain}", "TXT") == [f'"v=TLSRPTv1; rua=mailto:{rua}"']
    reporter = b.user("bob")
    begin = (int(time.time()) // rm.DAY - 1) * rm.DAY
    end = begin + rm.DAY - 1
    when = dt.datetime.fromtimestamp(end + 3600, dt.timezone.utc)
    xml = rm.dmarc_xml(org=b.domain, report_id=f"{b.domain}-{begin}", domain=a.domain, begin=begin, end=end,
                       records=[{"ip": a.wan_ip, "count": 5, "header_from": a.domain, "dkim": "pass", "spf": "pass"},
                                {"ip": FORGER[1], "count": 2, "header_from": a.domain, "dkim": "fail",
                                 "spf": "fail", "disposition": "reject"}])  # fmt: skip
    name = f"{b.domain}!{a.domain}!{begin}!{end}"
    submit_raw(b, reporter, rua, rm.report_mail(
        to=rua, sender=reporter, subject=f"Report domain: {a.domain} Submitter: {b.domain}",
        attachment=rm.gz(xml), filename=f"{name}.xml.gz", content_type="application/gzip", when=when))
    start = dt.datetime.fromtimestamp(begin, dt.timezone.utc)
    tls = rm.tlsrpt_json(org=b.domain, report_id=f"{b.domain}-tls-{begin}", domain=a.domain, mx=a.fqdn, start=start,
                         end=start + dt.timedelta(seconds=rm.DAY - 1), successful=7,
                         failures={"certificate-host-mismatch": 1})  # fmt: skip
    submit_raw(b, reporter, rua, rm.report_mail(
        to=rua, sender=reporter, subject=f"Report Domain: {a.domain} Submitter: {b.domain}",
        attachment=rm.gz(tls), filename=f"{name}!001.json.gz", content_type="application/tlsrpt+gzip",
        when=when, tlsrpt_domain=a.domain))
    for hostile, attachment, ctype in [("laughs.xml", rm.BILLION_LAUGHS, "text/xml"),
                                       ("bomb.xml.gz", rm.gzip_bomb(256 * MiB), "application/gzip")]:
        submit_raw(b, reporter, rua, rm.report_mail(
            to=rua, sender=reporter, subject=f"Report {hostile}", attachment=attachment, filename=hostile,
            content_type=ctype, when=dt.datetime.now(dt.timezone.utc)))

    deadline = time.monotonic() + 90
    flushed = time.monotonic()
    while True:
        data = _reports(a)
        if (data["dmarc"]["reports"], data["tls"]["reports"], len(data["refused"])) == (1, 1, 2):
            break
        if time.monotonic() - flushed > 10:
            # B may still back off from a.test after an earlier test in this world moved A's address
            b.mailctl("queue", "flush", check=False)
            flushed = time.monotonic()
        if time.monotonic() > deadline:
            queue = b.mailctl("queue", "list", check=False).stdout
            raise AssertionError(f"the reports did not arrive within 90 s: {data}\nB's queue: {queue}")
        time.sleep(2)

    assert [s["address"] for s in data["mailboxes"]] == [a.user("postmaster")]
    assert [(s["source_ip"], s["messages"], s["dmarc_pass"], s["dmarc_fail"], s["dispositions"])
            for s in data["dmarc"]["sources"]] == [(FORGER[1], 2, 0, 2, {"reject": 2}),
                                                   (a.wan_ip, 5, 5, 0, {"none": 5})]  # fmt: skip
    assert [o["org"] for o in data["dmarc"]["orgs"]] == [b.domain]
    assert data["tls"]["domains"] == [{"domain": a.domain, "policy_type": "sts", "successful": 7, "failed": 1,
                                       "failures": {"certificate-host-mismatch": 1}, "orgs": [b.domain]}]
    assert sorted(line.split(": ", 1)[1] for line in data["refused"]) == [
        f"bomb.xml.gz: gzip inflates to more than {32 * MiB} bytes",
        "laughs.xml: XML with a DOCTYPE (DTDs and entities are refused)"]

    # without harm: reading changes nothing in the mailbox, and the answer stays the same
    box = os.path.join(a.data, "mail", a.domain, "postmaster")
    before = _tree(box)
    again = _reports(a)
    assert _tree(box) == before
    assert {k: again[k] for k in ("dmarc", "tls", "refused")} == {k: data[k] for k in ("dmarc", "tls", "refused")}
