"""``Uci``: a drop-in for OpenWrt's pyuci ``uci.Uci`` on top of the libuci port.

Semantics follow pyuci on libuci:

* changes are kept in memory (as libuci's pending delta) until ``save()``
  appends them to the delta file in savedir (where ``uci changes`` on a router
  sees them) or ``commit()`` saves them and writes the config file;
* leaving a ``with`` block commits every config changed through this object
  (pyuci's ``__exit__``); dropping the object without save/commit drops the
  unsaved changes, as pyuci does;
* ``get(config)`` / ``get_all(config)`` return ``{section: {...}}`` where each
  section dict has ``.type``, ``.name``, ``.anonymous``, ``.index`` and the
  options (str) and lists (tuple of str).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Union

from . import errors as E
from . import ops
from .context import UciContext
from .model import (
    COMMAND_NAMES,
    Option,
    Package,
    Section,
    validate_name,
    validate_package,
    validate_text,
    validate_type,
)

Value = Union[str, tuple, list, bool, int]


def _option_value(o: Option) -> str | tuple:
    return tuple(o.value) if o.is_list else o.value


def _section_dict(p: Package, s: Section) -> dict:
    data: dict = {
        ".type": s.type,
        ".name": s.name,
        ".anonymous": s.anonymous,
        ".index": p.sections.index(s),
    }
    for o in s.options:
        data[o.name] = _option_value(o)
    return data


def _package_dict(p: Package) -> dict:
    return {s.name: _section_dict(p, s) for s in p.sections}


def _to_text(value: Any) -> str:
    """pyuci-style scalar conversion: bool → '1'/'0', int → decimal, str as is."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise E.UciExceptionInvalidInput(f"Unsupported value passed to uci.set(): {value!r}", code=E.ERR_INVAL)


def _checked_text(value: str) -> str:
    if not validate_text(value):
        raise E.UciExceptionInvalidInput(f"value contains control characters: {value!r}", code=E.ERR_INVAL)
    return value


class Uci:
    """A UCI context: ``Uci(savedir=..., confdir=...)`` (defaults /tmp/.uci, /etc/config)."""

    def __init__(self, savedir: str | None = None, confdir: str | None = None) -> None:
        self._ctx: UciContext | None = UciContext(confdir=confdir, savedir=savedir)
        self._tainted: list = []  # configs changed since their last save/commit/revert

    # --- context management ----------------------------------------------------
    def __enter__(self) -> Uci:
        self._context()
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ctx is not None:
            try:
                for name in list(self._tainted):
                    self.commit(name)
            finally:
                self.close()

    def close(self) -> None:
        """Forget the context; unsaved changes are dropped (as pyuci's dealloc does)."""
        self._ctx = None
        self._tainted = []

    def _context(self) -> UciContext:
        if self._ctx is None:
            raise E.UciException("this Uci object was closed", code=E.ERR_INVAL)
        return self._ctx

    def _taint(self, config: str) -> None:
        if config not in self._tainted:
            self._tainted.append(config)

    def _untaint(self, config: str) -> None:
        if config in self._tainted:
            self._tainted.remove(config)

    # --- addressing ------------------------------------------------------------
    @staticmethod
    def _ptr(config: str, section: str | None, option: str | None) -> ops.Ptr:
        if section is None and option is None and isinstance(config, str) and "." in config:
            try:
                return ops.parse_ptr(config)
            except E.UciException as exc:
                raise E.UciExceptionInvalidInput(f"invalid UCI address: {config!r}", code=exc.code) from exc
        for what, text in (("config", config), ("section", section), ("option", option)):
            if text is not None and not isinstance(text, str):
                raise E.UciExceptionInvalidInput(f"{what} must be a string, not {text!r}", code=E.ERR_INVAL)
        if not validate_package(config):
            raise E.UciExceptionInvalidInput(f"invalid config name: {config!r}", code=E.ERR_INVAL)
        ptr = ops.Ptr(package=config, section=section, option=option)
        if section is not None and not validate_name(section):
            if not section.startswith("@"):
                raise E.UciExceptionInvalidInput(f"invalid section name: {section!r}", code=E.ERR_INVAL)
            ptr.flags |= ops.LOOKUP_EXTENDED
        if option is not None and not validate_name(option):
            raise E.UciExceptionInvalidInput(f"invalid option name: {option!r}", code=E.ERR_INVAL)
        return ptr

    def _lookup(self, config: str, section: str | None = None, option: str | None = None) -> ops.Ptr:
        ptr = self._ptr(config, section, option)
        try:
            return ops.lookup_ptr(self._context(), ptr, True)
        except E.UciException as exc:
            if exc.code == E.ERR_NOTFOUND:
                raise E.UciExceptionNotFound(f"Entry not found: config {ptr.package!r}",
                                             code=exc.code) from exc
            if exc.code == E.ERR_INVAL:
                raise E.UciExceptionInvalidInput(f"invalid section address: {ptr.section!r}",
                                                 code=exc.code) from exc
            raise

    @staticmethod
    def _not_found(ptr: ops.Ptr) -> E.UciExceptionNotFound:
        address = ".".join(x for x in (ptr.package, ptr.section, ptr.option) if x is not None)
        return E.UciExceptionNotFound(f"Entry not found: {address}", code=E.ERR_NOTFOUND)

    def _complete(self, config: str, section: str | None, option: str | None) -> ops.Ptr:
        ptr = self._lookup(config, section, option)
        if not ptr.complete:
            raise self._not_found(ptr)
        return ptr

    # --- reading ---------------------------------------------------------------
    def get(self, config: str, section: str | None = None, option: str | None = None) -> Any:
        """Section type, option value (str) or list (tuple); a whole config as a dict."""
        ptr = self._complete(config, section, option)
        if ptr.o is not None:
            return _option_value(ptr.o)
        if ptr.s is not None:
            return ptr.s.type
        assert ptr.p is not None  # noqa: S101 (lookup_ptr always sets it)
        return _package_dict(ptr.p)

    def get_all(self, config: str, section: str | None = None, option: str | None = None) -> Any:
        """Like ``get`` but a section gives its dict (with ``.type``, ``.name``, ...)."""
        ptr = self._complete(config, section, option)
        if ptr.o is not None:
            return _option_value(ptr.o)
        assert ptr.p is not None  # noqa: S101
        if ptr.s is not None:
            return _section_dict(ptr.p, ptr.s)
        return _package_dict(ptr.p)

    # --- changing --------------------------------------------------------------
    def set(self, *args: Any) -> None:
        """``set(config, section, type)`` or ``set(config, section, option, value)``.

        A value is a str, a bool ('1'/'0'), an int, or a list/tuple of those (a
        UCI list, replacing the old value).  An empty string deletes, like libuci.
        """
        if len(args) == 3:
            config, section, value = args
            option = None
        elif len(args) == 4:
            config, section, option, value = args
        else:
            raise E.UciException("Invalid number of arguments passed to Uci.set()", code=E.ERR_INVAL)
        ctx = self._context()
        ptr = self._lookup(config, section, option)
        if ptr.flags & ops.LOOKUP_EXTENDED and ptr.s is None:
            raise self._not_found(ptr)
        if option is not None and ptr.s is None:
            raise self._not_found(ptr)
        if isinstance(value, (list, tuple)):
            if option is None:
                raise E.UciExceptionInvalidInput("a section type cannot be a list", code=E.ERR_INVAL)
            items = [_checked_text(_to_text(v)) for v in value]
            if ptr.o is not None:
                ops.delete(ctx, ptr)
            for item in items:
                ptr.value = item
                ops.add_list(ctx, ptr)
        else:
            text = _checked_text(_to_text(value))
            if option is None and text and not validate_type(text):
                raise E.UciExceptionInvalidInput(f"invalid section type: {text!r}", code=E.ERR_INVAL)
            ptr.value = text
            ops.set_value(ctx, ptr)
        self._taint(config.split(".", 1)[0])

    def delete(self, config: str, section: str | None = None, option: str | None = None) -> None:
        """Delete a section or option (UciExceptionNotFound if it does not exist)."""
        if section is None and "." not in config:
            raise E.UciExceptionInvalidInput("delete needs a section", code=E.ERR_INVAL)
        ptr = self._complete(config, section, option)
        ops.delete(self._context(), ptr)
        self._taint(ptr.package or config)

    def add(self, config: str, section_type: str) -> str:
        """Add an anonymous section; returns its generated name (``cfgNNhhhh``)."""
        if not isinstance(section_type, str) or not validate_type(section_type):
            raise E.UciExceptionInvalidInput(f"invalid section type: {section_type!r}", code=E.ERR_INVAL)
        ptr = self._complete(config, None, None)
        assert ptr.p is not None  # noqa: S101
        sec = ops.add_section(ptr.p, section_type)
        self._taint(ptr.p.name)
        return sec.name

    def rename(self, *args: str) -> None:
        """``rename(config, section, new_name)`` or ``rename(config, section, option, new_name)``."""
        if len(args) == 3:
            config, section, new_name = args
            option = None
        elif len(args) == 4:
            config, section, option, new_name = args
        else:
            raise E.UciException("Invalid number of arguments passed to Uci.rename()", code=E.ERR_INVAL)
        if not isinstance(new_name, str) or not validate_name(new_name):
            raise E.UciExceptionInvalidInput(f"invalid name: {new_name!r}", code=E.ERR_INVAL)
        ptr = self._complete(config, section, option)
        ptr.value = new_name
        ops.rename(self._context(), ptr)
        self._taint(config)

    def reorder(self, config: str, section: str, index: int) -> None:
        """Move a section to position ``index`` (0-based; negative moves it to the front)."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise E.UciExceptionInvalidInput(f"index must be an int, not {index!r}", code=E.ERR_INVAL)
        ptr = self._complete(config, section, None)
        if ptr.p is None or ptr.s is None:
            raise self._not_found(ptr)
        ops.reorder_section(ptr.p, ptr.s, index)
        self._taint(config)

    # --- persisting ------------------------------------------------------------
    def _packages(self, config: str | None) -> list:
        ctx = self._context()
        if config is None:
            return list(ctx.root)
        ptr = self._lookup(config)
        return [ptr.p]

    def save(self, config: str | None = None) -> None:
        """Append pending changes to the delta file(s) in savedir (all loaded configs if None)."""
        ctx = self._context()
        for p in self._packages(config):
            ctx.save(p)
            self._untaint(p.name)

    def commit(self, config: str | None = None) -> None:
        """Save and write the config file(s) atomically (all loaded configs if None)."""
        ctx = self._context()
        for p in self._packages(config):
            ctx.commit(p, False)
            self._untaint(p.name)

    def revert(self, config: str, section: str | None = None, option: str | None = None) -> None:
        """Drop saved and pending changes to a config, section or option."""
        ptr = self._lookup(config, section, option)
        self._context().revert(ptr)
        self._untaint(ptr.package or config)

    def load(self, config: str) -> None:
        """Read a config now (reads are otherwise on first use); UciExceptionNotFound if it does not exist."""
        self._lookup(config)

    def unload(self, config: str) -> None:
        """Forget a loaded config and its unsaved changes; the next use reads it again."""
        ctx = self._context()
        loaded = ctx.find_loaded(config)
        if loaded is not None:
            ctx.unload(loaded)
        self._untaint(config)

    # --- information -----------------------------------------------------------
    def changes(self, config: str | None = None) -> dict:
        """Pending changes: ``{config: [(command, section, option, value), ...]}``.

        ``command`` is one of add, remove, set, rename, reorder, list-add,
        list-del; saved changes (delta files) come first, then unsaved ones.
        With no ``config`` every config that has changes is listed.
        """
        ctx = self._context()
        names: Sequence[str] = [config] if config is not None else self.list_configs()
        result: dict = {}
        for name in names:
            fresh = UciContext(confdir=ctx.confdir)
            fresh.conf2dir, fresh.delta_path, fresh.savedir = ctx.conf2dir, list(ctx.delta_path), ctx.savedir
            try:
                p = fresh.load(name)
            except E.UciException as exc:
                if config is None:
                    continue
                if exc.code == E.ERR_NOTFOUND:
                    raise E.UciExceptionNotFound(f"Entry not found: config {name!r}", code=exc.code) from exc
                raise
            records = list(p.saved_delta)
            loaded = ctx.find_loaded(name)
            if loaded is not None:
                records += loaded.delta
            entries = [(COMMAND_NAMES[d.cmd], d.section, d.option, d.value) for d in records]
            if entries or config is not None:
                result[name] = entries
        return result

    def list_configs(self) -> list:
        """Names of the configs in confdir, sorted."""
        try:
            return self._context().list_configs()
        except E.UciException as exc:
            if exc.code == E.ERR_NOTFOUND:
                return []
            raise

    def confdir(self) -> str:
        return self._context().confdir

    def set_confdir(self, directory: str) -> None:
        self._context().confdir = directory

    def savedir(self) -> str:
        return self._context().savedir

    def set_savedir(self, directory: str) -> None:
        self._context().set_savedir(directory)
