"""libuci's delta ("save") files: encode, parse, replay and filter.

One record per line: an optional command prefix (``+`` add, ``-`` delete,
``@`` rename, ``^`` reorder, ``|`` add_list, ``~`` del_list, none for set), then
``config.section[.option]`` and ``='value'`` with ``'`` written as ``'\\''``.
A value may span lines.  Replay is lenient like libuci: a line that does not
parse or apply is skipped and not counted.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from . import errors as E
from . import ops
from .lexer import ParseContext
from .model import (
    CMD_ADD,
    CMD_CHANGE,
    CMD_LIST_ADD,
    CMD_LIST_DEL,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_REORDER,
    COMMAND_CHARS,
    Delta,
    Package,
    to_bytes,
    validate_name,
)

if TYPE_CHECKING:
    from .context import UciContext

_PREFIX_TO_CMD = {char: cmd for cmd, char in COMMAND_CHARS.items() if char}


def quote(value: str) -> str:
    """Single-quote a value the way libuci's delta and ``uci show`` do."""
    return "'" + value.replace("'", "'\\''") + "'"


def encode_delta(package: str, delta: Delta) -> bytes:
    """One delta file record (with its newline)."""
    text = f"{COMMAND_CHARS[delta.cmd]}{package}.{delta.section}"
    if delta.option is not None:
        text += "." + delta.option
    if delta.cmd == CMD_REMOVE and delta.value is None:
        text += "\n"
    else:
        text += "=" + quote(delta.value or "") + "\n"
    return to_bytes(text)


def encode_deltas(package: str, deltas: list) -> bytes:
    return b"".join(encode_delta(package, d) for d in deltas)


def parse_delta_tuple(pc: ParseContext) -> tuple:
    """uci_parse_delta_tuple: (command, Ptr) for the line at the cursor."""
    ofs = pc.next_arg(False, False, False)
    if pc.cstr(pc.pos):
        raise E.uci_error(E.ERR_INVAL)
    arg = pc.text(ofs)
    cmd = _PREFIX_TO_CMD.get(arg[:1], CMD_CHANGE)
    if cmd != CMD_CHANGE:
        arg = arg[1:]
    ptr = ops.parse_ptr(arg)
    bad = (
        ptr.section is None
        or ptr.flags & ops.LOOKUP_EXTENDED
        or (cmd != CMD_REMOVE and ptr.value is None)
        or (cmd == CMD_REORDER and ptr.option is not None)
        or (cmd == CMD_RENAME and not validate_name(ptr.value or ""))
        or (cmd in (CMD_LIST_ADD, CMD_LIST_DEL) and ptr.option is None)
    )
    if bad:
        raise E.uci_error(E.ERR_INVAL)
    return cmd, ptr


def _apply_line(ctx: UciContext, pc: ParseContext, p: Package, keep_saved: bool) -> None:
    cmd, ptr = parse_delta_tuple(pc)
    if ptr.package != p.name:
        raise E.uci_error(E.ERR_PARSE)
    if keep_saved:
        p.saved_delta.append(Delta(cmd, ptr.section, ptr.option, ptr.value))
    ptr.p = p
    if cmd == CMD_REORDER:
        ops.expand_ptr(ctx, ptr, True)
        if ptr.s is None:
            raise E.uci_error(E.ERR_INVAL)
        ops.reorder_section(p, ptr.s, ops.c_strtoul_int(ptr.value or ""), record=False)
    elif cmd == CMD_RENAME:
        ops.rename(ctx, ptr, record=False)
    elif cmd == CMD_REMOVE:
        ops.delete(ctx, ptr, record=False)
    elif cmd == CMD_LIST_ADD:
        ops.add_list(ctx, ptr, record=False)
    elif cmd == CMD_LIST_DEL:
        ops.del_list(ctx, ptr, record=False)
    elif cmd == CMD_ADD:
        ops.set_value(ctx, ptr, record=False)
        if ptr.option is None and ptr.s is not None:
            ptr.s.anonymous = True
    else:
        ops.set_value(ctx, ptr, record=False)


def replay(ctx: UciContext, data: bytes, p: Package, keep_saved: bool = True) -> int:
    """Apply delta file contents to ``p``; returns how many records applied."""
    pc = ParseContext(io.BytesIO(data))
    changes = 0
    while not pc.eof:
        pc.pos = 0
        pc.getln(0)
        if not pc.ch(0):
            continue
        try:
            _apply_line(ctx, pc, p, keep_saved)
        except E.UciException:
            continue
        changes += 1
    return changes


def filter_records(data: bytes, package: str, section: str | None, option: str | None) -> bytes | None:
    """uci_filter_delta: the delta without records matching section/option.

    Returns None when a record does not parse (libuci then leaves the file alone).
    """
    pc = ParseContext(io.BytesIO(data))
    kept = []
    while not pc.eof:
        pc.pos = 0
        pc.getln(0)
        if not pc.ch(0):
            continue
        try:
            cmd, ptr = parse_delta_tuple(pc)
        except E.UciException:
            return None
        match = True
        if section is not None and ptr.section != section:
            match = False
        if match and option is not None and ptr.option != option:
            match = False
        if not match and ptr.section is not None:
            kept.append(Delta(cmd, ptr.section, ptr.option, ptr.value))
    return encode_deltas(package, kept)
