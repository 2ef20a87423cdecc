"""Addressing and editing a package, as libuci's list.c/util.c do it.

``Ptr`` is libuci's ``uci_ptr``: a parsed ``config.section.option=value``
tuple plus what a lookup found.  The editing functions change the model and,
unless ``record`` is False (file parsing and delta replay), append the change
to ``package.delta`` exactly as libuci records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import errors as E
from .model import (
    CMD_ADD,
    CMD_CHANGE,
    CMD_LIST_ADD,
    CMD_LIST_DEL,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_REORDER,
    Delta,
    Option,
    Package,
    Section,
    anonymous_name,
    validate_name,
    validate_package,
    validate_text,
    validate_type,
)

if TYPE_CHECKING:
    from .context import UciContext

LOOKUP_DONE = 1
LOOKUP_COMPLETE = 2
LOOKUP_EXTENDED = 4


@dataclass(eq=False)
class Ptr:
    package: str | None = None
    section: str | None = None
    option: str | None = None
    value: str | None = None
    p: Package | None = None
    s: Section | None = None
    o: Option | None = None
    flags: int = 0

    @property
    def complete(self) -> bool:
        return bool(self.flags & LOOKUP_COMPLETE)


def _invalid(code: int = E.ERR_INVAL) -> E.UciException:
    return E.uci_error(code)


def parse_ptr(text: str) -> Ptr:
    """uci_parse_ptr: split ``config[.section[.option]][=value]`` and validate it."""
    ptr = Ptr()
    body, sep, value = text.partition("=")
    if sep:
        ptr.value = value
    parts = body.split(".")
    if len(parts) > 3:
        raise _invalid(E.ERR_PARSE)
    ptr.package = parts[0]
    if len(parts) > 1:
        ptr.section = parts[1]
    if len(parts) > 2:
        ptr.option = parts[2]
    if not validate_package(ptr.package):
        raise _invalid(E.ERR_PARSE)
    if ptr.section is not None and not validate_name(ptr.section):
        ptr.flags |= LOOKUP_EXTENDED
    if ptr.option is not None and not validate_name(ptr.option):
        raise _invalid(E.ERR_PARSE)
    if ptr.value is not None and not validate_text(ptr.value):
        raise _invalid(E.ERR_PARSE)
    return ptr


def c_strtol(text: str) -> tuple:
    """C strtol(text, &end, 10): (value, rest-of-string)."""
    i = 0
    while i < len(text) and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    j = i
    if j < len(text) and text[j] in "+-":
        sign = -1 if text[j] == "-" else 1
        j += 1
    k = j
    while k < len(text) and text[k] in "0123456789":
        k += 1
    if k == j:
        return 0, text
    return sign * int(text[j:k]), text[k:]


def c_strtoul_int(text: str) -> int:
    """(int) strtoul(text, NULL, 10), as libuci passes a reorder position."""
    value, _rest = c_strtol(text)
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def c_sscanf_int(text: str) -> int | None:
    """sscanf(text, "%d"): the number, None if no conversion, -1 (EOF) for blank input."""
    stripped = text.lstrip(" \t\n\v\f\r")
    if not stripped:
        return -1
    value, rest = c_strtol(stripped)
    if rest == stripped:
        return None
    return value


def lookup_ext_section(p: Package, ptr: Ptr) -> Section | None:
    """Resolve ``@type[index]`` / ``@[index]``; raises INVAL on bad syntax."""
    section = ptr.section or ""
    if not section.startswith("@"):
        raise _invalid()
    name, bracket, rest = section[1:].partition("[")
    if not bracket or "]" not in rest:
        raise _invalid()
    idxstr, _, tail = rest.partition("]")
    if tail:
        raise _invalid()
    idx, leftover = c_strtol(idxstr)
    if leftover:
        raise _invalid()
    if name and not validate_type(name):
        raise _invalid()
    candidates = [s for s in p.sections if not name or s.type == name]
    if idx < 0:
        idx += len(candidates)
    if 0 <= idx < len(candidates):
        found = candidates[idx]
        ptr.section = found.name
        return found
    return None


def lookup_ptr(ctx: UciContext, ptr: Ptr, extended: bool = True) -> Ptr:
    """uci_lookup_ptr: load the package if needed and find section/option.

    Raises NotFound only if the package cannot be loaded; a missing section or
    option leaves ``ptr.complete`` False.
    """
    ptr.flags |= LOOKUP_DONE
    if ptr.p is None:
        ptr.p = ctx.find_loaded(ptr.package or "")
        if ptr.p is None:
            ptr.p = ctx.load(ptr.package or "")
    if ptr.section is None and ptr.s is None:
        ptr.flags |= LOOKUP_COMPLETE
        return ptr
    if ptr.s is not None:
        sec: Section | None = ptr.s
    elif ptr.flags & LOOKUP_EXTENDED:
        if not extended:
            raise _invalid()
        sec = lookup_ext_section(ptr.p, ptr)
    else:
        sec = ptr.p.section(ptr.section or "")
    if sec is None:
        return ptr
    ptr.s = sec
    if ptr.option is not None:
        opt = sec.option(ptr.option)
        if opt is None:
            return ptr
        ptr.o = opt
    ptr.flags |= LOOKUP_COMPLETE
    return ptr


def expand_ptr(ctx: UciContext, ptr: Ptr, complete: bool) -> None:
    if not ptr.flags & LOOKUP_DONE:
        lookup_ptr(ctx, ptr, True)
    if complete and not ptr.complete:
        raise E.uci_error(E.ERR_NOTFOUND)
    if ptr.p is None:
        raise _invalid()
    if ptr.s is not None and ptr.section is None:
        ptr.section = ptr.s.name
    if ptr.o is not None and ptr.option is None:
        ptr.option = ptr.o.name


def _record(p: Package, record: bool, cmd: int, section: str, option: str | None, *,
            value: str | None) -> None:
    if record and p.has_delta:
        p.delta.append(Delta(cmd, section, option, value))


def alloc_section(p: Package, stype: str, name: str | None, after: Section | None = None) -> Section:
    sec = Section(name=name or "", type=stype, anonymous=not name, package=p)
    p.n_section += 1
    if after is None:
        p.sections.append(sec)
    else:
        p.sections.insert(p.sections.index(after) + 1, sec)
    return sec


def add_section(p: Package, stype: str, record: bool = True) -> Section:
    """uci_add_section: a new anonymous section named ``cfgNNhhhh``."""
    sec = alloc_section(p, stype, None)
    sec.name = anonymous_name(p.n_section, stype)
    _record(p, record, CMD_ADD, sec.name, None, value=stype)
    return sec


def _insert_option_after(sec: Section, new: Option, old: Option) -> None:
    idx = sec.options.index(old)
    sec.options[idx] = new


def delete(ctx: UciContext, ptr: Ptr, record: bool = True) -> int:
    """uci_delete; returns 1 for a non-numeric list index (libuci's bare ``return 1``)."""
    expand_ptr(ctx, ptr, True)
    p = ptr.p
    if p is None:
        raise E.uci_error(E.ERR_INVAL)
    if ptr.s is None:
        raise _invalid()
    if ptr.o is not None and ptr.o.is_list and ptr.value:
        index = c_sscanf_int(ptr.value)
        if index is None:
            return 1
        items = ptr.o.value
        if 0 <= index < len(items):
            _record(p, record, CMD_REMOVE, ptr.section or "", ptr.option, value=ptr.value)
            del items[index]
        return 0
    _record(p, record, CMD_REMOVE, ptr.section or "", ptr.option, value=None)
    if ptr.o is not None:
        ptr.s.options.remove(ptr.o)
        ptr.o = None
    elif ptr.option is None:
        p.sections.remove(ptr.s)
        ptr.s = None
    return 0


def set_value(ctx: UciContext, ptr: Ptr, record: bool = True) -> None:
    """uci_set: create/change an option, or create a section / change its type."""
    expand_ptr(ctx, ptr, False)
    p = ptr.p
    if p is None:
        raise E.uci_error(E.ERR_INVAL)
    if ptr.value is None:
        raise _invalid()
    if not (ptr.s is not None or (ptr.option is None and ptr.section is not None)):
        raise _invalid()
    if ptr.option is None and ptr.value and not validate_type(ptr.value):
        raise _invalid()
    if ptr.o is None and ptr.s is not None and ptr.option is not None:
        ptr.o = ptr.s.option(ptr.option)
    value = ptr.value
    if not value:
        if not ptr.complete:
            return
        delete(ctx, ptr, True)
        return
    if ptr.o is None and ptr.option is not None:
        if ptr.s is None:
            raise E.uci_error(E.ERR_INVAL)
        ptr.o = Option(ptr.option, value, ptr.s)
        ptr.s.options.append(ptr.o)
    elif ptr.s is None and ptr.section is not None:
        ptr.s = alloc_section(p, value, ptr.section)
    elif ptr.o is not None and ptr.option is not None:
        if not ptr.o.is_list and ptr.o.value == value:
            return
        if ptr.s is None:
            raise E.uci_error(E.ERR_INVAL)
        new = Option(ptr.o.name, value, ptr.s)
        _insert_option_after(ptr.s, new, ptr.o)
        ptr.o = new
    elif ptr.s is not None and ptr.section is not None:
        if ptr.s.type == value:
            return
        if len(ptr.s.type) != len(value):
            # libuci reallocates the section under its (generated) name, which
            # makes it a named section; the same length is changed in place.
            ptr.s.anonymous = not ptr.s.name
        ptr.s.type = value
    else:
        raise _invalid()
    _record(p, record, CMD_CHANGE, ptr.section or "", ptr.option, value=value)


def add_list(ctx: UciContext, ptr: Ptr, record: bool = True) -> None:
    """uci_add_list: append an item, turning an option into a list if needed."""
    expand_ptr(ctx, ptr, False)
    p = ptr.p
    if p is None:
        raise E.uci_error(E.ERR_INVAL)
    if ptr.s is None or ptr.value is None or ptr.option is None:
        raise _invalid()
    if ptr.o is None:
        ptr.o = Option(ptr.option, [], ptr.s)
        ptr.s.options.append(ptr.o)
    elif not ptr.o.is_list:
        new = Option(ptr.o.name, [ptr.o.value], ptr.s)
        _insert_option_after(ptr.s, new, ptr.o)
        ptr.o = new
    ptr.o.value.append(ptr.value)
    _record(p, record, CMD_LIST_ADD, ptr.section or "", ptr.option, value=ptr.value)


def del_list(ctx: UciContext, ptr: Ptr, record: bool = True) -> None:
    """uci_del_list: remove every item equal to the value (no-op on options)."""
    expand_ptr(ctx, ptr, False)
    p = ptr.p
    if p is None:
        raise E.uci_error(E.ERR_INVAL)
    if ptr.s is None or ptr.value is None:
        raise _invalid()
    if ptr.o is None or ptr.option is None or not ptr.o.is_list:
        return
    _record(p, record, CMD_LIST_DEL, ptr.section or "", ptr.option, value=ptr.value)
    ptr.o.value[:] = [item for item in ptr.o.value if item != ptr.value]


def rename(ctx: UciContext, ptr: Ptr, record: bool = True) -> None:
    """uci_rename: rename a section or option (libuci does not validate the new name)."""
    expand_ptr(ctx, ptr, True)
    p = ptr.p
    if p is None:
        raise E.uci_error(E.ERR_INVAL)
    if ptr.s is None or ptr.value is None:
        raise _invalid()
    _record(p, record, CMD_RENAME, ptr.section or "", ptr.option, value=ptr.value)
    if ptr.o is not None:
        ptr.o.name = ptr.value
    else:
        ptr.s.name = ptr.value
        ptr.s.anonymous = False


def reorder_section(p: Package, sec: Section, pos: int, record: bool = True) -> None:
    """uci_reorder_section: move to index ``pos`` (negative: to the front)."""
    sections = p.sections
    idx = sections.index(sec)
    old_prev = sections[idx - 1] if idx > 0 else None
    del sections[idx]
    new_prev: Section | None = None
    remaining = pos
    for other in sections:
        if remaining <= 0:
            break
        remaining -= 1
        new_prev = other
    insert_at = 0 if new_prev is None else sections.index(new_prev) + 1
    sections.insert(insert_at, sec)
    if old_prev is not new_prev:
        _record(p, record, CMD_REORDER, sec.name, None, value=str(pos))
