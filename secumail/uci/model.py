"""The in-memory UCI model: packages, sections, options and recorded deltas.

It mirrors libuci's ``uci_package``/``uci_section``/``uci_option``/``uci_delta``.
Strings are ``str``; bytes that are not UTF-8 travel as surrogate escapes
(``errors="surrogateescape"``), so every byte of a file survives a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

ENCODING = "utf-8"
ERRORS = "surrogateescape"

# libuci's enum uci_command, in order.
CMD_ADD = 0
CMD_REMOVE = 1
CMD_CHANGE = 2
CMD_RENAME = 3
CMD_REORDER = 4
CMD_LIST_ADD = 5
CMD_LIST_DEL = 6

COMMAND_CHARS = {CMD_ADD: "+", CMD_REMOVE: "-", CMD_CHANGE: "", CMD_RENAME: "@",
                 CMD_REORDER: "^", CMD_LIST_ADD: "|", CMD_LIST_DEL: "~"}
COMMAND_NAMES = {CMD_ADD: "add", CMD_REMOVE: "remove", CMD_CHANGE: "set", CMD_RENAME: "rename",
                 CMD_REORDER: "reorder", CMD_LIST_ADD: "list-add", CMD_LIST_DEL: "list-del"}

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def to_bytes(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


def to_str(data: bytes) -> str:
    return data.decode(ENCODING, ERRORS)


def validate_str(text: str, name: bool, package: bool) -> bool:
    """libuci's uci_validate_str: alnum and ``_`` (``-`` in packages); types allow printable ASCII."""
    if not text:
        return False
    for ch in text:
        if ch in _ALNUM:
            continue
        if ch == "-" and package:
            continue
        code = ord(ch)
        if name or code < 33 or code > 126:
            return False
    return True


def validate_package(text: str) -> bool:
    return validate_str(text, False, True)


def validate_type(text: str) -> bool:
    return validate_str(text, False, False)


def validate_name(text: str) -> bool:
    return validate_str(text, True, False)


def validate_text(text: str) -> bool:
    """No control characters except tab, newline and carriage return."""
    return all(ord(ch) >= 32 or ch in "\t\n\r" for ch in text)


def djb_hash(text: str, value: int = 5381) -> int:
    """libuci's djbhash over the bytes of ``text`` (``char`` is signed, as on x86)."""
    for byte in to_bytes(text):
        signed = byte - 256 if byte >= 128 else byte
        value = (value * 33 + signed) & 0xFFFFFFFF
    return value & 0x7FFFFFFF


def anonymous_name(counter: int, section_type: str) -> str:
    """``cfg`` + 2 hex digits of the section counter + 4 hex digits of the type hash."""
    return f"cfg{counter:02x}{djb_hash(section_type) % (1 << 16):04x}"


OptionValue = Union[str, list]


@dataclass(eq=False)
class Option:
    name: str
    value: OptionValue  # str for an option, list[str] for a list
    section: Section | None = field(default=None, repr=False)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass(eq=False)
class Section:
    name: str
    type: str
    anonymous: bool = False
    options: list = field(default_factory=list)  # list[Option]
    package: Package | None = field(default=None, repr=False)

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None


@dataclass(eq=False)
class Delta:
    cmd: int
    section: str
    option: str | None = None
    value: str | None = None


@dataclass(eq=False)
class Package:
    name: str
    sections: list = field(default_factory=list)  # list[Section]
    n_section: int = 0
    path: str | None = None
    has_delta: bool = False
    uses_conf2: bool = False
    delta: list = field(default_factory=list)  # unsaved changes, list[Delta]
    saved_delta: list = field(default_factory=list)  # changes read from delta files

    def section(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def as_data(self) -> list:
        """A plain comparable form: [(name, type, anonymous, [(opt, value), ...]), ...]."""
        return [
            (s.name, s.type, s.anonymous,
             [(o.name, list(o.value) if o.is_list else o.value) for o in s.options])
            for s in self.sections
        ]
