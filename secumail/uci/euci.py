"""``EUci``: typed get/set on top of ``Uci`` (turris-pyuci's euci, same behaviour).

Booleans use UCI's words: ``1/yes/on/true/enabled`` and ``0/no/off/false/disabled``
(case-insensitive when read); ``set`` writes ``'1'``/``'0'``.  Integers are written
in decimal; ``IPv4Address``/``IPv6Address`` are parsed with ``ipaddress``.
"""

from __future__ import annotations

import collections.abc
import ipaddress
from typing import Any

from .api import Uci
from .errors import UciExceptionNotFound

VALUES = {
    "0": False,
    "no": False,
    "off": False,
    "false": False,
    "disabled": False,
    "1": True,
    "yes": True,
    "on": True,
    "true": True,
    "enabled": True,
}
TRUE = "1"
FALSE = "0"


class boolean:  # noqa: N801 - mirrors the ``euci.boolean`` module of turris-pyuci
    VALUES = VALUES
    TRUE = TRUE
    FALSE = FALSE


def _is_iter(data: Any) -> bool:
    return isinstance(data, collections.abc.Iterable) and not isinstance(data, str)


def _convert(value: str, dtype: Any) -> Any:
    if dtype is str:
        return value
    if dtype is bool:
        word = value.lower()
        if word not in VALUES:
            raise ValueError(f"invalid value '{word}' for bool type")
        return VALUES[word]
    if dtype is int:
        return int(value)
    if dtype in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        address = ipaddress.ip_address(value)
        if not isinstance(address, dtype):
            raise ValueError(f"'{value}' is not an {dtype.__name__}")
        return address
    raise TypeError(f"'{dtype}' is not supported type of data")


def _to_uci(value: Any, dtype: Any) -> str:
    if dtype is bool:
        return TRUE if value else FALSE
    return str(value)


class EUci(Uci):
    """``Uci`` with ``get(..., dtype=, default=, list=)`` and typed ``set``."""

    def get(self, *args: Any, dtype: Any = str, **kwargs: Any) -> Any:  # type: ignore[override]
        """Get a value converted to ``dtype``.

        ``default`` is returned (converted) instead of raising UciExceptionNotFound;
        ``list=True`` always gives a tuple, ``list=False`` never does (first item).
        With only a config the plain dict is returned.
        """
        unknown = set(kwargs).difference({"default", "list"})
        if unknown:
            raise TypeError(f"'{next(iter(unknown))}' is an invalid keyword argument for this function")
        try:
            values = super().get(*args)
        except UciExceptionNotFound:
            if "default" not in kwargs:
                raise
            values = kwargs["default"]
        if len(args) < 2:
            return values
        if _is_iter(values):
            result: Any = tuple(_convert(str(value), dtype) for value in values)
        else:
            result = _convert(str(values), dtype)
        if "list" in kwargs:
            if isinstance(result, tuple) == bool(kwargs["list"]):
                return result
            if kwargs["list"]:
                return (result,)
            return result[0]
        return result

    def set(self, *args: Any) -> None:
        """Set a value; bool → '1'/'0', int → decimal; a list/tuple (typed by its first item) → UCI list."""
        value = args[-1]
        if _is_iter(value):
            items = list(value)
            dtype = type(items[0]) if items else str
            super().set(*args[:-1], tuple(_to_uci(item, dtype) for item in items))
        else:
            super().set(*args[:-1], _to_uci(value, type(value)))

    # Obsolete helpers kept for compatibility with turris-pyuci.
    def get_boolean(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, dtype=bool, **kwargs)

    def set_boolean(self, *args: Any) -> None:
        self.set(*args[:-1], bool(args[-1]))

    def get_integer(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, dtype=int, **kwargs)

    def set_integer(self, *args: Any) -> None:
        self.set(*args[:-1], int(args[-1]))
