"""Typed operation arguments: what JSON callers (secumaild jobs, the rpcd plugin) may pass.

A string is refused when it could be read as an option or holds a second
line, so the same checks keep LuCI input harmless wherever it ends up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from secumail.errors import InputError

DOMAIN = re.compile(r"^[A-Za-z0-9\u00a0-\uffff]([A-Za-z0-9\u00a0-\uffff.-]{0,252})$")
ADDRESS = re.compile(r"^[^\s@]{1,64}@[A-Za-z0-9\u00a0-\uffff][A-Za-z0-9\u00a0-\uffff.-]{0,252}$")
SOURCE = re.compile(r"^[^\s@]{0,64}@[A-Za-z0-9\u00a0-\uffff][A-Za-z0-9\u00a0-\uffff.-]{0,252}$")
SIZE = re.compile(r"^[0-9]{1,12}[KMGT]?$", re.IGNORECASE)
TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,127}$")
HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.:-]{0,252})(:[0-9]{1,5})?$")
PEER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,127}@\S{1,260}$")
HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9\u00a0-\uffff][A-Za-z0-9\u00a0-\uffff.-]{0,252})$")
RELAY_NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")
APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
SCOPES = re.compile(r"^[a-z]{1,8}(,[a-z]{1,8}){0,7}$")
LOGIN = re.compile(r"^[^\s:]{1,256}$")
QUEUE_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
SNAPSHOT = re.compile(r"^[0-9a-f]{6,64}$")
PATH = re.compile(r"^[^\0\r\n]{1,4096}$")
IMAP_URL = re.compile(r"^imaps?://\S{3,600}$", re.IGNORECASE)
DURATION = re.compile(r"^[0-9]{1,7}[smhd]?$", re.IGNORECASE)
FOLDER = re.compile(r"^[^\0\r\n]{1,1000}$")

_SAMPLES = {"string": "str", "bool": True, "int": 0, "number": 0, "array": []}


class Invalid(InputError):
    """An argument is missing or malformed (exit/reply code 2)."""


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON type, whether it is required, how a string is checked."""

    kind: str  # string, bool, int, number, array (of strings)
    required: bool = False
    pattern: re.Pattern | None = None
    what: str = "value"
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    secret: bool = False  # never in argv or job arguments: stdin only
    spaces: bool = False  # a string that may hold spaces (a folder name: 'Sent Items')
    default: Any = None

    def sample(self) -> Any:
        """The value rpcd's `list` shows: rpcd derives the ubus argument type from it."""
        return _SAMPLES[self.kind]

    def check(self, name: str, value: Any) -> Any:
        """The value, checked and typed; Invalid with one line saying what is wrong."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if value in (0, 1, "0", "1"):
                return bool(int(value))
            raise Invalid(f"{name}: must be true or false")
        if self.kind in ("int", "number"):
            return self._number(name, value)
        if self.kind == "array":
            if not isinstance(value, list) or not value:
                raise Invalid(f"{name}: must be a non-empty list of {self.what}s")
            return [self._string(name, item) for item in value]
        return self._string(name, value)

    def _number(self, name: str, value: Any) -> Any:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        ok = isinstance(value, int) or (self.kind == "number" and isinstance(value, float))
        if not ok or isinstance(value, bool):
            raise Invalid(f"{name}: must be a whole number" if self.kind == "int" else f"{name}: must be a number")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise Invalid(f"{name}: {value} is out of range ({self.low}-{self.high})")
        return value

    def _string(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"{name}: must be a string")
        if self.secret:
            if not value or len(value) > 1024 or any(ch in value for ch in "\0\r\n"):
                raise Invalid(f"{name}: must be 1-1024 characters on one line")
            return value
        value = value.strip()
        # Nothing a command line could read as an option, nor a second line.
        inner = (lambda ch: ch in "\r\n\t\v\f") if self.spaces else str.isspace
        if not value or value.startswith("-") or any(inner(ch) for ch in value):
            raise Invalid(f"{name}: {value!r} is not a valid {self.what}")
        if self.choices and value not in self.choices:
            raise Invalid(f"{name}: {value!r} is not one of: {', '.join(self.choices)}")
        if self.pattern is not None and not self.pattern.match(value):
            raise Invalid(f"{name}: {value!r} is not a valid {self.what}")
        return value


def check_args(schema: dict[str, Arg], raw: dict[str, Any], *, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """`raw` (JSON from a caller) checked against `schema`: unknown names, missing or malformed values."""
    if not isinstance(raw, dict):
        raise Invalid("the arguments must be a JSON object")
    unknown = sorted(str(name) for name in set(raw) - set(schema) - set(ignore))
    if unknown:
        raise Invalid(f"unknown argument(s): {', '.join(unknown)} (known: {', '.join(schema) or 'none'})")
    values: dict[str, Any] = {}
    for name, spec in schema.items():
        value = raw.get(name)
        if value is None or value == "":
            if spec.required:
                raise Invalid(f"{name}: missing")
            continue
        values[name] = spec.check(name, value)
    return values
