"""libuci's line tokenizer (the parse context of file.c), byte for byte.

Config files, delta files and batch input are all read through this: a line
buffer that grows when a quoted string or a trailing backslash continues on the
next line, a position in it, and NUL bytes written into it to end words, as
libuci does.  Error positions (``line``, ``byte``) therefore match libuci.
"""

from __future__ import annotations

from typing import BinaryIO

from .errors import ParseError
from .model import to_str, validate_str

_SPACE = frozenset(b" \t\n\v\f\r")
_TOKEN_DELIMS = (0, 0x20, 0x09)
_BACKSLASH = 0x5C
_NL = 0x0A
_CR = 0x0D


class ParseContext:
    """A cursor over one stream, with libuci's buffer semantics."""

    def __init__(self, stream: BinaryIO, path: str | None = None) -> None:
        self.stream = stream
        self.path = path
        self.buf = bytearray()
        self.pos = 0
        self.filled = 0
        self.line = 0
        self.eof = False
        self.target = 0

    # --- buffer primitives -------------------------------------------------
    def getln(self, offset: int) -> None:
        """Read the next physical line into the buffer at ``offset``."""
        del self.buf[offset:]
        if self.eof:
            return
        data = self.stream.readline()
        if not data:
            self.eof = True
            return
        self.buf += data
        self.filled = len(self.buf)
        if data.endswith(b"\n"):
            self.line += 1
        else:
            self.eof = True

    def ch(self, index: int) -> int:
        return self.buf[index] if index < len(self.buf) else 0

    def cur(self) -> int:
        return self.ch(self.pos)

    def setc(self, index: int, value: int) -> None:
        if index < len(self.buf):
            self.buf[index] = value
        else:
            self.buf.append(value)

    def cstr(self, index: int) -> bytes:
        """The NUL-terminated string starting at ``index``."""
        end = self.buf.find(0, index)
        return bytes(self.buf[index:] if end < 0 else self.buf[index:end])

    def text(self, index: int) -> str:
        return to_str(self.cstr(index))

    def error(self, reason: str) -> ParseError:
        return ParseError(reason, self.line, self.pos, self.path)

    # --- libuci's scanner ----------------------------------------------------
    def skip_whitespace(self) -> None:
        while self.cur() and self.cur() in _SPACE:
            self.pos += 1

    def increase_pos(self, add: int) -> bool:
        if self.pos + add > self.filled:
            return False
        self.pos += add
        return True

    def _addc(self) -> None:
        self.setc(self.target, self.buf[self.pos])
        self.target += 1
        self.pos += 1

    def _backslash(self) -> bool:
        """Skip a backslash; False if it continued the line (next line fetched)."""
        self.pos += 1
        c = self.cur()
        if c == 0 or c == _NL or (c == _CR and self.ch(self.pos + 1) == _NL and not self.ch(self.pos + 2)):
            self.getln(self.pos)
            return False
        return True

    def _double_quote(self) -> None:
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x22:  # "
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    raise self.error('EOF with unterminated "')
                continue
            if c == _BACKSLASH and not self._backslash():
                continue
            self._addc()

    def _single_quote(self) -> None:
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x27:  # '
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    raise self.error("EOF with unterminated '")
                continue
            self._addc()

    def _word_goes_on(self) -> bool:
        c = self.cur()
        return bool(c) and c not in _SPACE

    def parse_str(self) -> None:
        """Parse one (possibly quoted) word into the buffer at ``self.target``."""
        advance = True
        while True:
            c = self.cur()
            if c == 0x27:
                self._single_quote()
            elif c == 0x22:
                self._double_quote()
            elif c == 0x23:  # '#': comment ends the line
                self.setc(self.pos, 0)
                break
            elif c == 0:
                break
            elif c == 0x3B:  # ';'
                advance = False
                break
            elif c == _BACKSLASH:
                if self._backslash():
                    self._addc()
            else:
                self._addc()
            if not self._word_goes_on():
                break
        if self.cur() and advance:
            self.pos += 1
        self.setc(self.target, 0)

    def next_arg(self, required: bool, name: bool, package: bool) -> int:
        """Parse the next argument; returns its offset in the buffer."""
        self.skip_whitespace()
        val = self.target = self.pos
        if self.cur() == 0x3B:
            self.setc(self.pos, 0)
            self.pos += 1
        else:
            self.parse_str()
        if not self.ch(val):
            if required:
                raise self.error("insufficient arguments")
            return val
        if name and not validate_str(self.text(val), name, package):
            raise self.error("invalid character in name field")
        return val

    def assert_eol(self, strict: bool) -> None:
        self.skip_whitespace()
        rest = self.next_arg(False, False, False)
        if self.ch(rest) and strict:
            raise self.error("too many arguments")

    def strtok(self, start: int) -> int | None:
        """C strtok(str, " \\t") on the buffer: token start, NUL written after it."""
        i = start
        while self.ch(i) in (0x20, 0x09):
            i += 1
        if not self.ch(i):
            return None
        j = i
        while self.ch(j) not in _TOKEN_DELIMS:
            j += 1
        if self.ch(j):
            self.setc(j, 0)
        return i
