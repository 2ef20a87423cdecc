"""IMAP response syntax both sides of an import share: imaplib's raw answers into Python values.

imaplib hands back a command's untagged data as a list of byte lines, and of (line, literal)
pairs where a line ended in `{n}`. `values(data)` reads them as one stream: a parenthesised list
is a list, NIL is None, a quoted string a `Quoted`, a literal `bytes`, anything else an atom
(`str`; `BODY[HEADER.FIELDS (MESSAGE-ID)]` is one atom). LIST and FETCH answers are then a
flat run of values of a known shape (`list_entries`, `fetch_items`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

_SPACE = b" \t\r\n"
_ATOM_END = b" \t\r\n()"
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\s*$")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}  # fmt: skip
_INTERNALDATE = re.compile(r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


class Quoted(str):
    """A quoted string (a mailbox name, a delimiter), told apart from an atom."""


class _Reader:
    def __init__(self) -> None:
        self.stack: list[list[Any]] = [[]]

    def feed(self, text: bytes) -> None:
        text = _LITERAL_AT_END.sub(b"", text)  # its payload comes next, through literal()
        i, end = 0, len(text)
        while i < end:
            ch = text[i : i + 1]
            if ch in _SPACE:
                i += 1
            elif ch == b"(":
                self.stack.append([])
                i += 1
            elif ch == b")":
                if len(self.stack) > 1:
                    done = self.stack.pop()
                    self.stack[-1].append(done)
                i += 1
            elif ch == b'"':
                i = self._quoted(text, i + 1)
            else:
                i = self._atom(text, i)

    def literal(self, payload: bytes) -> None:
        self.stack[-1].append(payload)

    def _quoted(self, text: bytes, i: int) -> int:
        out = bytearray()
        while i < len(text):
            ch = text[i]
            if ch == 0x5C and i + 1 < len(text):  # backslash escapes the next character
                out.append(text[i + 1])
                i += 2
                continue
            if ch == 0x22:
                i += 1
                break
            out.append(ch)
            i += 1
        self.stack[-1].append(Quoted(out.decode("utf-8", "replace")))
        return i

    def _atom(self, text: bytes, i: int) -> int:
        start = i
        depth = 0
        while i < len(text):
            ch = text[i : i + 1]
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth = max(0, depth - 1)
            elif depth == 0 and ch in _ATOM_END:
                break
            i += 1
        atom = text[start:i].decode("utf-8", "replace")
        self.stack[-1].append(None if atom.upper() == "NIL" else atom)
        return i


def values(data: Iterable[Any]) -> list[Any]:
    """imaplib's untagged data of one command as one list of values (see the module doc)."""
    reader = _Reader()
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            reader.feed(item[0])
            reader.literal(item[1])
        else:
            reader.feed(item)
    while len(reader.stack) > 1:  # an unclosed list: keep what was read
        done = reader.stack.pop()
        reader.stack[-1].append(done)
    return reader.stack[0]


def text(value: Any) -> str:
    """A string, quoted string or literal as text (a literal mailbox name arrives as bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def list_entries(data: Iterable[Any]) -> list[tuple[frozenset[str], str | None, str]]:
    """LIST answers: (attributes lower-cased, delimiter or None, wire name) each."""
    flat = values(data)
    entries = []
    for i in range(0, len(flat) - 2, 3):
        attrs, delimiter, name = flat[i : i + 3]
        if not isinstance(attrs, list):
            continue
        entries.append((frozenset(str(a).lower() for a in attrs if a), None if delimiter is None else text(delimiter),
                        text(name)))  # fmt: skip
    return entries


def fetch_items(data: Iterable[Any]) -> list[dict[str, Any]]:
    """FETCH answers: one dict per message, item name (upper case) → value; `UID`, `RFC822.SIZE` as int."""
    flat = values(data)
    messages = []
    for i in range(len(flat) - 1):
        if not (isinstance(flat[i], str) and flat[i].isdigit() and isinstance(flat[i + 1], list)):
            continue
        pairs = flat[i + 1]
        items: dict[str, Any] = {}
        for j in range(0, len(pairs) - 1, 2):
            key = str(pairs[j]).upper()
            value = pairs[j + 1]
            if key in ("UID", "RFC822.SIZE") and isinstance(value, str) and value.isdigit():
                value = int(value)
            items[key] = value
        messages.append(items)
    return messages


def header_item(items: dict[str, Any]) -> bytes:
    """The BODY[HEADER.FIELDS (...)] part of a FETCH answer ('' when absent)."""
    for key, value in items.items():
        if key.startswith("BODY[HEADER"):
            return value if isinstance(value, bytes) else text(value).encode()
    return b""


def internal_date(value: str) -> int:
    """INTERNALDATE ("17-Jul-1996 02:44:25 -0700") as seconds since the epoch; ValueError if malformed."""
    match = _INTERNALDATE.match(value)
    if not match or match.group(2).title() not in _MONTHS:
        raise ValueError(f"not an IMAP date: {value!r}")
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = dt.timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    when = dt.datetime(int(year), _MONTHS[mon.title()], int(day), int(hh), int(mm), int(ss),
                       tzinfo=dt.timezone(offset))  # fmt: skip
    return int(when.timestamp())


def quote(name: str) -> str:
    """A mailbox name (already modified UTF-7) as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def message_id(header: bytes) -> str:
    """The Message-ID in a header block (folded lines joined), '' when there is none."""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", header)
    match = re.search(rb"^message-id:[ \t]*(.*?)[ \t]*\r?$", unfolded, re.IGNORECASE | re.MULTILINE)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""


def header_block(message: bytes) -> bytes:
    """The header of a whole message (up to the first empty line)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = message.find(separator)
        if at >= 0:
            return message[: at + len(separator)]
    return message
