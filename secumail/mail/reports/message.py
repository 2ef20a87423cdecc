"""A report message (MIME) → the reports in its attachments, and one line per refused one."""

from __future__ import annotations

import email
import email.message
from dataclasses import dataclass, field
from email import policy as email_policy

from secumail.mail.reports import dmarc, tlsrpt, unpack
from secumail.mail.reports.limits import Limits, Refused

_TYPES = {
    "text/xml", "application/xml", "application/gzip", "application/x-gzip", "application/zip",
    "application/x-zip", "application/x-zip-compressed", "application/json", "application/tlsrpt+json",
    "application/tlsrpt+gzip", "application/octet-stream",
}
_SUFFIXES = (".xml", ".gz", ".zip", ".json")


@dataclass
class Found:
    reports: list[dmarc.AggregateReport | tlsrpt.TlsReport] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "attachment: reason"


def _leaves(msg: email.message.Message, depth: int) -> list[email.message.Message]:
    """Leaf parts, breadth first, never deeper than `depth` multipart levels."""
    out, level, current = [], 0, [msg]
    while current:
        if level > depth:
            raise Refused(f"MIME parts nested deeper than {depth} levels")
        nested = []
        for part in current:
            payload = part.get_payload()
            if part.is_multipart() and isinstance(payload, list):
                nested.extend(payload)
            else:
                out.append(part)
        current, level = nested, level + 1
    return out


def _is_candidate(part: email.message.Message) -> bool:
    name = (part.get_filename() or "").lower()
    ctype = part.get_content_type()
    if ctype == "application/octet-stream":
        return name.endswith(_SUFFIXES)
    return ctype in _TYPES or name.endswith(_SUFFIXES)


def parse_report(data: bytes, limits: Limits) -> dmarc.AggregateReport | tlsrpt.TlsReport:
    """One attachment's bytes → its report, XML or JSON decided by the unpacked content."""
    body = unpack.unpack(data, limits)
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return dmarc.parse(body, limits)
    if head == b"{":
        return tlsrpt.parse(body, limits)
    raise Refused("neither XML nor JSON")


def read_message(data: bytes, limits: Limits) -> Found:
    """The reports of one message; a message without a report attachment gives nothing."""
    found = Found()
    try:
        msg = email.message_from_bytes(data, policy=email_policy.compat32)
        parts = _leaves(msg, limits.mime_depth)
    except Refused as exc:
        found.refused.append(str(exc))
        return found
    except Exception as exc:  # noqa: BLE001 - hostile input: whatever the parser trips on is one refusal
        found.refused.append(f"unreadable MIME message ({type(exc).__name__})")
        return found
    for n, part in enumerate(p for p in parts if _is_candidate(p)):
        name = _safe_name(part.get_filename()) or f"part {n + 1} ({part.get_content_type()})"
        try:
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                raise Refused("empty attachment")
            found.reports.append(parse_report(payload, limits))
        except Refused as exc:
            found.refused.append(f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - hostile input, see above
            found.refused.append(f"{name}: unreadable attachment ({type(exc).__name__})")
    return found


def _safe_name(name: str | None) -> str:
    """A file name fit for one line of output."""
    if not name:
        return ""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return cleaned[:80]
