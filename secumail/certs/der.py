"""Just enough DER to read a certificate's serial and validity with the standard library.

The daemon's daily renewal check needs not-before/not-after and nothing else;
importing `cryptography` for that would cost the resident agent megabytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.*?)-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class Validity:
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def lifetime(self) -> dt.timedelta:
        return self.not_after - self.not_before


def pem_certificates(data: bytes) -> list[bytes]:
    """DER of every certificate in a PEM bundle, in order."""
    return [base64.b64decode(b"".join(block.split())) for block in _PEM_CERT.findall(data)]


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at `pos`."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280)
        year = int(text[:2])
        text = str(1900 + year if year >= 50 else 2000 + year) + text[2:]
    elif tag != 0x18:
        raise ValueError("validity is not a time")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def validity(der: bytes) -> Validity:
    """Serial and validity of one DER certificate; ValueError when it is not one."""
    _, cert, _ = _read(der, 0)
    tag, tbs, tbs_end = _read(der, cert)
    if tag != 0x30:
        raise ValueError("not a certificate")
    tag, start, end = _read(der, tbs)
    if tag == 0xA0:  # explicit version
        tag, start, end = _read(der, end)
    if tag != 0x02:
        raise ValueError("no serial number")
    serial = int.from_bytes(der[start:end], "big", signed=True)
    _, _, end = _read(der, end)  # signature algorithm
    _, _, end = _read(der, end)  # issuer
    tag, start, _ = _read(der, end)  # validity
    if tag != 0x30:
        raise ValueError("no validity")
    tag1, s1, e1 = _read(der, start)
    tag2, s2, e2 = _read(der, e1)
    return Validity(serial, _time(tag1, der[s1:e1]), _time(tag2, der[s2:e2]))


def leaf_validity(path: str) -> Validity | None:
    """Validity of the first certificate in a PEM file; None if missing or unreadable."""
    try:
        with open(path, "rb") as handle:
            certs = pem_certificates(handle.read())
        return validity(certs[0]) if certs else None
    except (OSError, ValueError, IndexError):
        return None
