"""Modified UTF-7 (RFC 3501 5.1.3): how IMAP4rev1 spells mailbox names outside printable ASCII.

Printable ASCII stands for itself except `&`, which is `&-`; any other run of characters is
`&` + base64 of its UTF-16BE with `,` for `/` and no padding + `-`. `Ärger` is `&AMQ-rger`.
"""

from __future__ import annotations

import base64
import re

_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")


def encode(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    """The Unicode name; a malformed shift sequence is kept as it is (a server's odd name still copies)."""

    def unshift(match: re.Match) -> str:
        body = match.group(1)
        if not body:
            return "&"
        padded = body.replace(",", "/") + "=" * (-len(body) % 4)
        try:
            return base64.b64decode(padded, validate=True).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return _SHIFTED.sub(unshift, name)
