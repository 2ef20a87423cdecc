"""Report mails as real receivers send them, and hostile ones, built by the tests themselves.

DMARC aggregate reports are shaped like Google's (zip, `google.com!<domain>!<begin>!<end>.zip`) and
Microsoft's (gzip, `enterprise.protection.outlook.com!<domain>!<begin>!<end>.xml.gz`); TLS-RPT like
Google's (`application/tlsrpt+gzip` in a multipart/report; report-type=tlsrpt).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import zipfile
import zlib
from email.message import EmailMessage
from email.utils import format_datetime

DAY = 86400


def dmarc_xml(*, org: str, report_id: str, domain: str, begin: int, end: int,
              records: list[dict], policy: str = "none", namespace: str = "") -> bytes:
    """RFC 7489 appendix C feedback. records: {ip, count, header_from, dkim, spf, disposition,
    dkim_auth: (domain, result), spf_auth: (domain, result)}."""
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    rows = []
    for r in records:
        dkim_dom, dkim_res = r.get("dkim_auth", (r["header_from"], r["dkim"]))
        spf_dom, spf_res = r.get("spf_auth", (r["header_from"], r["spf"]))
        rows.append(f"""  <record>
    <row>
      <source_ip>{r['ip']}</source_ip>
      <count>{r['count']}</count>
      <policy_evaluated>
        <disposition>{r.get('disposition', 'none')}</disposition>
        <dkim>{r['dkim']}</dkim>
        <spf>{r['spf']}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{r['header_from']}</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{dkim_dom}</domain>
        <result>{dkim_res}</result>
        <selector>mail</selector>
      </dkim>
      <spf>
        <domain>{spf_dom}</domain>
        <result>{spf_res}</result>
      </spf>
    </auth_results>
  </record>""")
    body = "\n".join(rows)
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback{xmlns}>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>noreply-dmarc-support@{org}</email>
    <extra_contact_info>https://support.{org}/a/answer/2466580</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>{policy}</p>
    <sp>{policy}</sp>
    <pct>100</pct>
    <np>{policy}</np>
  </policy_published>
{body}
</feedback>
""".encode()


def tlsrpt_json(*, org: str, report_id: str, domain: str, mx: str, start: dt.datetime, end: dt.datetime,
                successful: int, failures: dict[str, int], policy_type: str = "sts") -> bytes:
    details = [{"result-type": kind, "sending-mta-ip": "192.0.2.25", "receiving-mx-hostname": mx,
                "failed-session-count": n} for kind, n in failures.items()]
    doc = {
        "organization-name": org,
        "date-range": {"start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "contact-info": f"smtp-tls-reporting@{org}",
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": policy_type, "policy-string": ["version: STSv1", "mode: testing",
                                                                     f"mx: {mx}", "max_age: 86400"],
                       "policy-domain": domain, "mx-host": [mx]},
            "summary": {"total-successful-session-count": successful,
                        "total-failure-session-count": sum(failures.values())},
            **({"failure-details": details} if details else {}),
        }],
    }
    return json.dumps(doc, indent=2).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def report_mail(*, to: str, sender: str, subject: str, attachment: bytes, filename: str, content_type: str,
                when: dt.datetime, tlsrpt_domain: str = "") -> bytes:
    """A report message: a short text part and the report attached (base64), as receivers send them."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    token = hashlib.sha256((subject + filename).encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<{token}@{sender.rpartition('@')[2]}>"
    if tlsrpt_domain:
        msg["TLS-Report-Domain"] = tlsrpt_domain
        msg["TLS-Report-Submitter"] = sender.rpartition("@")[2]
    msg.set_content(f"This is an aggregate report from {sender.rpartition('@')[2]}.\n")
    maintype, _, subtype = content_type.partition("/")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    if tlsrpt_domain:
        msg.set_type("multipart/report")
        msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()


def google_zip(domain: str, begin: int, records: list[dict], *, report_id: str = "9391651994964116463",
               to: str = "") -> bytes:
    end = begin + DAY - 1
    xml = dmarc_xml(org="google.com", report_id=report_id, domain=domain, begin=begin, end=end, records=records)
    name = f"google.com!{domain}!{begin}!{end}"
    return report_mail(to=to or f"postmaster@{domain}", sender="noreply-dmarc-support@google.com",
                       subject=f"Report domain: {domain} Submitter: google.com Report-ID: {report_id}",
                       attachment=zipped(f"{name}.xml", xml), filename=f"{name}.zip", content_type="application/zip",
                       when=dt.datetime.fromtimestamp(end + 3600, dt.timezone.utc))


def microsoft_gzip(domain: str, begin: int, records: list[dict], *, report_id: str = "", to: str = "") -> bytes:
    end = begin + DAY - 1
    report_id = report_id or "a8d3b1f0c4e54b2f9e8d7c6b5a493827"
    org = "Enterprise Outlook"
    xml = dmarc_xml(org=org, report_id=report_id, domain=domain, begin=begin, end=end, records=records,
                    namespace="http://dmarc.org/dmarc-xml/0.1")
    name = f"enterprise.protection.outlook.com!{domain}!{begin}!{end}"
    return report_mail(to=to or f"postmaster@{domain}", sender="dmarcreport@microsoft.com",
                       subject=f"Report Domain: {domain} Submitter: enterprise.protection.outlook.com "
                               f"Report-ID: <{report_id}>",
                       attachment=gz(xml), filename=f"{name}.xml.gz", content_type="application/gzip",
                       when=dt.datetime.fromtimestamp(end + 7200, dt.timezone.utc))


def google_tlsrpt(domain: str, mx: str, begin: int, *, successful: int, failures: dict[str, int],
                  to: str = "") -> bytes:
    start = dt.datetime.fromtimestamp(begin, dt.timezone.utc)
    end = start + dt.timedelta(seconds=DAY - 1)
    report_id = f"{start:%Y-%m-%dT%H:%M:%SZ}_{domain}"
    body = tlsrpt_json(org="Google Inc.", report_id=report_id, domain=domain, mx=mx, start=start, end=end,
                       successful=successful, failures=failures)
    name = f"google.com!{domain}!{begin}!{begin + DAY - 1}!001.json.gz"
    return report_mail(to=to or f"postmaster@{domain}", sender="noreply-smtp-tls-reporting@google.com",
                       subject=f"Report Domain: {domain} Submitter: google.com Report-ID: <{report_id}>",
                       attachment=gz(body), filename=name, content_type="application/tlsrpt+gzip",
                       when=end + dt.timedelta(hours=1), tlsrpt_domain=domain)


# --- hostile ---------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>
"""


def external_entity(path: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE feedback [ <!ENTITY xxe SYSTEM "file://{path}"> ]>\n'
            "<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>\n").encode()


def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    out = [packer.compress(chunk) for _ in range(size >> 20)]
    out.append(packer.flush())
    return b"".join(out)


def zip_many(count: int, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(count):
            archive.writestr(f"report-{n}.xml", data)
    return out.getvalue()


def deliver(maildir: str, data: bytes, *, name: str, mtime: float, sub: str = "new") -> str:
    """Put a message into a Maildir as the LDA does (tmp/ then rename), its mtime the delivery time."""
    for part in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, part), exist_ok=True)
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.utime(tmp, (mtime, mtime))
    final = os.path.join(maildir, sub, name)
    os.rename(tmp, final)
    return final
