"""Model → config file bytes, exactly as libuci's uci_export writes them.

Every value is single-quoted and ``'`` becomes ``'\\''``; nothing else is
escaped.  ``uci commit`` writes the same text without the ``package`` header.
"""

from __future__ import annotations

from .model import Package, to_bytes


def escape(text: str) -> str:
    """libuci's uci_escape: ``'`` → ``'\\''``."""
    return text.replace("'", "'\\''")


def export_text(p: Package, header: bool = False, export_name: bool = False) -> str:
    """The export of ``p`` as text (surrogate escapes for non-UTF-8 bytes)."""
    out = []
    if header:
        out.append(f"package {escape(p.name)}\n")
    for sec in p.sections:
        out.append(f"\nconfig {escape(sec.type)}")
        if not sec.anonymous or export_name:
            out.append(f" '{escape(sec.name)}'")
        out.append("\n")
        for opt in sec.options:
            if opt.is_list:
                for item in opt.value:
                    out.append(f"\tlist {escape(opt.name)} '{escape(item)}'\n")
            else:
                out.append(f"\toption {escape(opt.name)} '{escape(opt.value)}'\n")
    out.append("\n")
    return "".join(out)


def export_bytes(p: Package, header: bool = False, export_name: bool = False) -> bytes:
    """The bytes ``uci export`` (header=True) or ``uci commit`` (header=False) writes."""
    return to_bytes(export_text(p, header, export_name))
