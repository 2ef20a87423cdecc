"""``EUci``: typed get/set on top of ``Uci``, with the behaviour of turris-pyuci's ``euci`` (0.10).

``get(config, section, option, dtype=str, convert=None, list=False, default=NoDefault)``:

- ``dtype`` is any callable that takes the UCI string (``int``, ``float``,
  ``ipaddress.ip_address``, ``IPv4Address``, ...); ``bool`` reads UCI's words
  ``1/yes/on/true/enabled`` and ``0/no/off/false/disabled`` (case-insensitive);
- ``convert`` is applied to each value after ``dtype`` (its errors are not caught);
- ``list=True`` always gives a tuple (one item for an option); ``list=False`` (the
  default) always gives one value (the first item of a list);
- ``default`` is returned as it is, unconverted (``None`` included), when the entry
  is missing or a value does not convert; without it both raise ``UciExceptionNotFound``.

``set`` writes bools as ``'1'``/``'0'`` and everything else with ``str``; a list or
tuple becomes a UCI list.  ``add(config, type, name)`` makes a named section.
"""

from __future__ import annotations

import collections.abc
from typing import Any, Callable

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


class _NoDefault:
    """The ``default`` of ``get`` when none is given (``None`` is a real default)."""

    def __repr__(self) -> str:
        return "NoDefault"

    __str__ = __repr__


NoDefault = _NoDefault()


def _is_iter(data: Any) -> bool:
    return isinstance(data, collections.abc.Iterable) and not isinstance(data, str)


def _to_uci(value: Any, dtype: Any) -> str:
    if dtype is bool:
        return TRUE if value else FALSE
    return str(value)


def _addresses_a_section(args: tuple) -> bool:
    """get('cfg', 'sec'[, 'opt']) or get('cfg.sec[.opt]'): typed; get('cfg') gives the whole dict."""
    return len(args) >= 2 or (len(args) == 1 and isinstance(args[0], str) and "." in args[0])


class EUci(Uci):
    """``Uci`` with typed ``get``/``set`` and named ``add``, as turris-pyuci's ``euci.EUci``."""

    def get(  # type: ignore[override]
        self,
        *args: Any,
        dtype: Callable[[str], Any] = str,
        convert: Callable[[Any], Any] | None = None,
        list: bool = False,  # pyuci's keyword
        default: Any = NoDefault,
    ) -> Any:
        """A value converted by ``dtype`` (then ``convert``); see the module docstring."""
        try:
            values = super().get(*args)
        except UciExceptionNotFound:
            if default is not NoDefault:
                return default
            raise
        if not _addresses_a_section(args):
            return values
        converted = []
        for text in values if _is_iter(values) else (values,):
            try:
                value = VALUES[str(text).lower()] if dtype is bool else dtype(str(text))
            except Exception as exc:  # any dtype may raise anything
                if default is not NoDefault:
                    return default
                raise UciExceptionNotFound(f"cannot convert {text!r} with {getattr(dtype, '__name__', dtype)}") from exc
            converted.append(convert(value) if convert is not None else value)
        return tuple(converted) if list else converted[0]

    def set(self, *args: Any) -> None:
        """Set a value; bool → '1'/'0', others → str; a list/tuple (typed by its first item) → UCI list."""
        value = args[-1]
        if _is_iter(value):
            items = [*value]
            dtype = type(items[0]) if items else str
            super().set(*args[:-1], tuple(_to_uci(item, dtype) for item in items))
        else:
            super().set(*args[:-1], _to_uci(value, type(value)))

    def add(self, config: str, section_type: str, section_name: str | None = None) -> str:
        """A new section of ``section_type``: named ``section_name``, or anonymous; returns its name."""
        if section_name:
            self.set(config, section_name, section_type)
            return section_name
        return super().add(config, section_type)

    # Helpers of older turris-pyuci releases, kept for code written against them.
    def get_boolean(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, dtype=bool, **kwargs)

    def set_boolean(self, *args: Any) -> None:
        self.set(*args[:-1], bool(args[-1]))

    def get_integer(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, dtype=int, **kwargs)

    def set_integer(self, *args: Any) -> None:
        self.set(*args[:-1], int(args[-1]))
