"""UCI error codes and the pyuci-compatible exception classes.

libuci reports failures as a small set of error codes (``UCI_ERR_*``); the
``uci`` CLI prints them as ``uci: <text>``.  Here every failure is an exception
that carries the code, so the CLI can print libuci's text and the Python API
can raise pyuci's classes.
"""

from __future__ import annotations

from secumail.errors import SecumailError

OK = 0
ERR_MEM = 1
ERR_INVAL = 2
ERR_NOTFOUND = 3
ERR_IO = 4
ERR_PARSE = 5
ERR_DUPLICATE = 6
ERR_UNKNOWN = 7

ERROR_TEXT = {
    OK: "Success",
    ERR_MEM: "Out of memory",
    ERR_INVAL: "Invalid argument",
    ERR_NOTFOUND: "Entry not found",
    ERR_IO: "I/O error",
    ERR_PARSE: "Parse error",
    ERR_DUPLICATE: "Duplicate entry",
    ERR_UNKNOWN: "Unknown error",
}


class UciException(SecumailError):
    """Any UCI failure (pyuci's ``uci.UciException``).

    ``code`` is libuci's error code; for syntax errors in a file ``reason``,
    ``line`` and ``byte`` say where, and ``path`` names the file.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int = ERR_UNKNOWN,
        reason: str | None = None,
        line: int = 0,
        byte: int = 0,
        path: str | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.line = line
        self.byte = byte
        self.path = path
        if message is None:
            message = ERROR_TEXT.get(code, ERROR_TEXT[ERR_UNKNOWN])
            if reason is not None:
                message += f" ({reason}) at line {line}, byte {byte}"
            if path:
                message = f"{path}: {message}"
        super().__init__(message)

    @property
    def has_position(self) -> bool:
        """True for a file syntax error that knows its line and byte."""
        return self.code == ERR_PARSE and self.reason is not None


class UciExceptionNotFound(UciException):
    """The config, section or option does not exist (pyuci's ``UciExceptionNotFound``)."""


class UciExceptionInvalidInput(UciException):
    """A name, type, value or address is not acceptable to libuci."""


def uci_error(code: int, message: str | None = None) -> UciException:
    """The exception for a libuci error code (not a file syntax error)."""
    if code == ERR_NOTFOUND:
        return UciExceptionNotFound(message, code=code)
    if code in (ERR_INVAL, ERR_PARSE):
        return UciExceptionInvalidInput(message, code=code)
    return UciException(message, code=code)


class ParseError(UciException):
    """A syntax error in a config file: ``Parse error (<reason>) at line N, byte M``."""

    def __init__(self, reason: str, line: int, byte: int, path: str | None = None) -> None:
        super().__init__(code=ERR_PARSE, reason=reason, line=line, byte=byte, path=path)
