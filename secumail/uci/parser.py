"""Config file format → model, following libuci's uci_import (file.c).

Errors are ``ParseError`` with libuci's reason, line and byte, e.g.
``Parse error (too many arguments) at line 3, byte 22``.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Callable

from . import errors as E
from . import ops
from .lexer import ParseContext
from .model import Package, Section, validate_type


class _Importer:
    def __init__(self, pc: ParseContext, name: str, strict: bool) -> None:
        self.pc = pc
        self.name = name
        self.strict = strict
        self.package: Package | None = None
        self.section: Section | None = None

    def ensure_package(self) -> Package:
        if self.package is None:
            self.package = Package(self.name)
        return self.package

    def parse_line(self) -> None:
        pc = self.pc
        pc.skip_whitespace()
        while True:
            start = pc.strtok(pc.pos)
            if start is None:
                return
            word = pc.cstr(start)
            first, rest = word[:1], word[1:]
            if first == b"#":
                return
            if first == b"p" and rest in (b"", b"ackage"):
                self.parse_package()
            elif first == b"c" and rest in (b"", b"onfig"):
                self.parse_config()
            elif first == b"o" and rest in (b"", b"ption"):
                self.parse_option(False)
            elif first == b"l" and rest in (b"", b"ist"):
                self.parse_option(True)
            else:
                raise pc.error("invalid command")

    def _skip_keyword(self, reason: str) -> None:
        pc = self.pc
        if not pc.increase_pos(len(pc.cstr(pc.pos)) + 1):
            raise pc.error(reason)

    def parse_package(self) -> None:
        # A file is always imported under its own name: the line is checked and ignored.
        self._skip_keyword("package without name")
        self.pc.next_arg(True, True, True)
        self.pc.assert_eol(self.strict)

    def parse_config(self) -> None:
        pc = self.pc
        package = self.ensure_package()
        self._skip_keyword("config without name")
        ofs_type = pc.next_arg(True, False, False)
        if not validate_type(pc.text(ofs_type)):
            raise pc.error("invalid character in type field")
        ofs_name = pc.next_arg(False, True, False)
        pc.assert_eol(self.strict)
        stype = pc.text(ofs_type)
        name = pc.text(ofs_name)
        if not name:
            self.section = ops.add_section(package, stype, record=False)
            return
        existing = package.section(name)
        if existing is not None and self.strict and existing.type != stype:
            raise pc.error("section of different type overwrites prior section with same name")
        ptr = ops.Ptr(package=package.name, section=name, value=stype, p=package, s=existing,
                      flags=ops.LOOKUP_DONE)
        ops.set_value(None, ptr, record=False)  # type: ignore[arg-type]
        self.section = ptr.s

    def parse_option(self, is_list: bool) -> None:
        pc = self.pc
        if self.section is None:
            raise pc.error("option/list command found before the first section")
        self._skip_keyword("option without name")
        ofs_name = pc.next_arg(True, True, False)
        ofs_value = pc.next_arg(False, False, False)
        pc.assert_eol(self.strict)
        name = pc.text(ofs_name)
        sec = self.section
        ptr = ops.Ptr(package=self.name, section=sec.name, option=name, value=pc.text(ofs_value),
                      p=sec.package, s=sec, o=sec.option(name), flags=ops.LOOKUP_DONE)
        if is_list:
            ops.add_list(None, ptr, record=False)  # type: ignore[arg-type]
        else:
            ops.set_value(None, ptr, record=False)  # type: ignore[arg-type]


def import_package(
    stream: BinaryIO,
    name: str,
    *,
    path: str | None = None,
    strict: bool = True,
    on_error: Callable[[E.UciException], None] | None = None,
) -> Package:
    """Parse a config file (a binary stream) into a ``Package`` called ``name``.

    In strict mode (libuci's default) the first syntax error raises
    ``ParseError``; otherwise the bad line is reported to ``on_error`` and skipped.
    """
    pc = ParseContext(stream, path)
    importer = _Importer(pc, name, strict)
    while not pc.eof:
        pc.pos = 0
        pc.getln(0)
        if not pc.ch(0):
            continue
        try:
            importer.parse_line()
        except E.UciException as exc:
            if on_error is not None:
                on_error(exc)
            if exc.code != E.ERR_PARSE or strict:
                raise
    return importer.ensure_package()


def parse_bytes(data: bytes, name: str, *, path: str | None = None, strict: bool = True) -> Package:
    """Parse config file contents given as bytes."""
    return import_package(io.BytesIO(data), name, path=path, strict=strict)
