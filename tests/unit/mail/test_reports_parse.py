"""DMARC aggregate and TLS-RPT reports: real-looking ones summarised, hostile ones refused in one line."""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc

import pytest

from secumail.mail.reports import message
from secumail.mail.reports.dmarc import AggregateReport
from secumail.mail.reports.limits import DEFAULT, MiB
from secumail.mail.reports.tlsrpt import TlsReport
from tests.support import reportmail as rm

BEGIN = 1_764_460_800  # 2025-11-30T00:00:00Z
GOOD = [
    {"ip": "203.0.113.7", "count": 12, "header_from": "example.org", "dkim": "pass", "spf": "pass"},
    {"ip": "198.51.100.9", "count": 3, "header_from": "example.org", "dkim": "fail", "spf": "fail",
     "disposition": "quarantine", "dkim_auth": ("evil.example", "fail"), "spf_auth": ("evil.example", "softfail")},
]


def _one(data: bytes):
    found = message.read_message(data, DEFAULT)
    assert found.refused == []
    assert len(found.reports) == 1
    return found.reports[0]


def test_google_zip_report():
    report = _one(rm.google_zip("example.org", BEGIN, GOOD))
    assert isinstance(report, AggregateReport)
    assert (report.org, report.report_id, report.domain, report.policy) == (
        "google.com", "9391651994964116463", "example.org", "none")
    assert report.begin.timestamp() == BEGIN and report.end.timestamp() == BEGIN + 86399
    first, second = report.records
    assert (first.source_ip, first.count, first.dkim, first.spf, first.dmarc_pass) == (
        "203.0.113.7", 12, "pass", "pass", True)
    assert (second.source_ip, second.disposition, second.dmarc_pass) == ("198.51.100.9", "quarantine", False)
    assert second.dkim_auth == [("evil.example", "fail")] and second.spf_auth == [("evil.example", "softfail")]


def test_microsoft_gzip_report_with_a_namespace():
    report = _one(rm.microsoft_gzip("example.org", BEGIN, GOOD[:1]))
    assert isinstance(report, AggregateReport)
    assert report.org == "Enterprise Outlook"
    assert [(r.source_ip, r.count) for r in report.records] == [("203.0.113.7", 12)]


def test_tlsrpt_json_gz_report():
    data = rm.google_tlsrpt("example.org", "mail.example.org", BEGIN, successful=40,
                            failures={"certificate-expired": 2, "starttls-not-supported": 1})
    assert b'multipart/report; report-type="tlsrpt"' in data
    report = _one(data)
    assert isinstance(report, TlsReport)
    (pol,) = report.policies
    assert (pol.domain, pol.policy_type, pol.successful, pol.failed) == ("example.org", "sts", 40, 3)
    assert pol.failures == {"certificate-expired": 2, "starttls-not-supported": 1}


def _attached(attachment: bytes, filename: str, content_type: str = "application/octet-stream") -> bytes:
    return rm.report_mail(to="postmaster@example.org", sender="reports@evil.example", subject="Report",
                          attachment=attachment, filename=filename, content_type=content_type,
                          when=dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc))


def _refused(data: bytes) -> str:
    found = message.read_message(data, DEFAULT)
    assert found.reports == []
    assert len(found.refused) == 1, found.refused
    (line,) = found.refused
    assert "\n" not in line
    return line


HOSTILE = {
    "billion laughs": (lambda: _attached(rm.BILLION_LAUGHS, "laughs.xml", "text/xml"),
                       "laughs.xml: XML with a DOCTYPE (DTDs and entities are refused)"),
    "billion laughs gzipped": (lambda: _attached(rm.gz(rm.BILLION_LAUGHS), "laughs.xml.gz", "application/gzip"),
                               "laughs.xml.gz: XML with a DOCTYPE (DTDs and entities are refused)"),
    "external entity": (lambda: _attached(rm.external_entity("/etc/passwd"), "xxe.xml", "text/xml"),
                        "xxe.xml: XML with a DOCTYPE (DTDs and entities are refused)"),
    "external DTD": (lambda: _attached(b'<?xml version="1.0"?>\n<!DOCTYPE feedback SYSTEM "http://192.0.2.1/x.dtd">\n'
                                       b"<feedback/>", "dtd.xml", "text/xml"),
                     "dtd.xml: XML with a DOCTYPE (DTDs and entities are refused)"),
    "parameter entity": (lambda: _attached(b'<!DOCTYPE feedback [<!ENTITY % p SYSTEM "file:///etc/shadow"> %p;]>'
                                           b"<feedback/>", "pe.xml", "text/xml"),
                         "pe.xml: XML with a DOCTYPE (DTDs and entities are refused)"),
    "undeclared entity": (lambda: _attached(b"<feedback>&xxe;</feedback>", "u.xml", "text/xml"),
                          "u.xml: not well-formed XML (undefined entity at line 1)"),
    "gzip bomb": (lambda: _attached(rm.gzip_bomb(64 * MiB), "bomb.xml.gz", "application/gzip"),
                  f"bomb.xml.gz: gzip inflates to more than {32 * MiB} bytes"),
    "zip bomb": (lambda: _attached(rm.zipped("bomb.xml", bytes(40 * MiB)), "bomb.zip", "application/zip"),
                 f"bomb.zip: zip member 'bomb.xml' inflates to more than {32 * MiB} bytes"),
    "zip of many members": (lambda: _attached(rm.zip_many(50, b"<feedback/>"), "many.zip", "application/zip"),
                            "many.zip: zip archive with 50 members (limit 4)"),
    "truncated gzip": (lambda: _attached(rm.gz(rm.dmarc_xml(org="x", report_id="1", domain="example.org",
                                                            begin=BEGIN, end=BEGIN + 1, records=GOOD))[:200],
                                         "cut.xml.gz", "application/gzip"),
                       "cut.xml.gz: truncated gzip data"),
    "not XML": (lambda: _attached(b"this is not a report\n", "report.xml", "text/xml"),
                "report.xml: neither XML nor JSON"),
    "broken XML": (lambda: _attached(b"<feedback><report_metadata></feedback>", "b.xml", "text/xml"),
                   "b.xml: not well-formed XML (mismatched tag at line 1)"),
    "other XML": (lambda: _attached(b"<html><body/></html>", "page.xml", "text/xml"),
                  "page.xml: XML root is <html>, not a DMARC <feedback>"),
    "deep XML": (lambda: _attached(b"<feedback>" + b"<a>" * 100 + b"</a>" * 100 + b"</feedback>", "d.xml",
                                   "text/xml"), "d.xml: XML nested deeper than 16 elements"),
    "source not an IP": (lambda: _attached(rm.dmarc_xml(org="x", report_id="1", domain="example.org", begin=BEGIN,
                                                        end=BEGIN + 1, records=[{**GOOD[0], "ip": "a;b"}]),
                                           "ip.xml", "text/xml"),
                         "ip.xml: record source_ip 'a;b' is not an IP address"),
    "deep JSON": (lambda: _attached(rm.gz(b"{\"a\":" + b"[" * 100000 + b"]" * 100000 + b"}"), "deep.json.gz",
                                    "application/tlsrpt+gzip"), "deep.json.gz: JSON nested deeper than 16 levels"),
    "JSON count not a number": (lambda: _attached(rm.tlsrpt_json(
        org="x", report_id="1", domain="example.org", mx="mx", start=dt.datetime(2025, 12, 1),
        end=dt.datetime(2025, 12, 2), successful=-1, failures={}), "neg.json",
        "application/tlsrpt+json"),
        "neg.json: TLS-RPT policies[0].summary.total-successful-session-count is not a whole number >= 0"),
    "encrypted zip": (lambda: _attached(_encrypted_zip(), "enc.zip", "application/zip"),
                      "enc.zip: encrypted zip member 'r.xml'"),
}


def _encrypted_zip() -> bytes:
    data = bytearray(rm.zipped("r.xml", b"<feedback/>"))
    # the "encrypted" flag in the local header and the central directory entry
    data[6] |= 1
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    return bytes(data)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_report_is_refused_in_one_line(case):
    build, expected = HOSTILE[case]
    assert _refused(build()) == expected


def test_a_bomb_costs_at_most_the_limit():
    data = _attached(rm.gzip_bomb(1024 * MiB), "bomb.xml.gz", "application/gzip")
    tracemalloc.start()
    started = time.monotonic()
    try:
        line = _refused(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert line == f"bomb.xml.gz: gzip inflates to more than {32 * MiB} bytes"
    assert peak < 32 * MiB + 2 * MiB + len(data) * 4  # the limit (in 1 MiB steps), never the 1 GiB it would be
    assert time.monotonic() - started < 10


def test_good_and_hostile_in_one_message():
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "r@x.example", "postmaster@example.org", "two"
    msg.set_content("two reports")
    msg.add_attachment(rm.BILLION_LAUGHS, maintype="text", subtype="xml", filename="laughs.xml")
    good = rm.dmarc_xml(org="x.example", report_id="7", domain="example.org", begin=BEGIN, end=BEGIN + 86399,
                        records=GOOD)
    msg.add_attachment(rm.gz(good), maintype="application", subtype="gzip", filename="good.xml.gz")
    found = message.read_message(msg.as_bytes(), DEFAULT)
    assert found.refused == ["laughs.xml: XML with a DOCTYPE (DTDs and entities are refused)"]
    assert [r.report_id for r in found.reports] == ["7"]


def test_ordinary_mail_has_no_report():
    found = message.read_message(b"From: a@b\r\nSubject: hi\r\n\r\nhello postmaster\r\n", DEFAULT)
    assert found.reports == [] and found.refused == []


def test_mime_nested_too_deep_is_one_line():
    inner = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for n in range(30):
        inner = (f"Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n--b{n}\r\n".encode() + inner
                 + f"\r\n--b{n}--\r\n".encode())
    found = message.read_message(inner, DEFAULT)
    assert found.refused == ["MIME parts nested deeper than 8 levels"]


def test_mangled_reports_never_raise():
    """Every truncation and many byte flips of each good report: a report or one refusal line, no exception."""
    import random

    xml = rm.dmarc_xml(org="x.example", report_id="1", domain="example.org", begin=BEGIN, end=BEGIN + 86399,
                       records=GOOD)
    tls = rm.tlsrpt_json(org="x", report_id="1", domain="example.org", mx="mx.example.org",
                         start=dt.datetime(2025, 12, 1), end=dt.datetime(2025, 12, 2), successful=1,
                         failures={"validation-failure": 1})
    samples = [xml, rm.gz(xml), rm.zipped("r.xml", xml), tls, rm.gz(tls)]
    rng = random.Random(7)
    outcomes = set()
    for sample in samples:
        variants = [sample[:cut] for cut in range(1, len(sample), max(1, len(sample) // 150))]
        for _ in range(150):
            mangled = bytearray(sample)
            for _ in range(rng.randint(1, 4)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            variants.append(bytes(mangled))
        for variant in variants:
            found = message.read_message(_attached(variant, "r.bin", "application/octet-stream").replace(
                b'filename="r.bin"', b'filename="r.xml.gz"'), DEFAULT)
            assert len(found.reports) + len(found.refused) == 1
            assert all("\n" not in line for line in found.refused)
            outcomes.add("report" if found.reports else found.refused[0].split(" (")[0][:40])
    assert "report" in outcomes and len(outcomes) > 5
    assert not [o for o in outcomes if "unreadable" in o]  # every refusal names its reason
