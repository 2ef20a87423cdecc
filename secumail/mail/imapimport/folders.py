"""Which folders of the old server are copied, and where each one goes here (docs/import.md).

Pure functions of LIST answers: special-use attributes first (RFC 6154), well-known names
second, the old server's personal namespace prefix and hierarchy delimiter replaced by ours.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from secumail.mail.imapimport import mutf7

# The uses we file into a folder of the same use here, and the folder's name when we have none.
USES = {"\\sent": "Sent", "\\drafts": "Drafts", "\\trash": "Trash", "\\junk": "Junk", "\\archive": "Archive"}
# Views of messages kept in other folders: copying them would copy each message again.
VIEWS = frozenset({"\\all", "\\flagged", "\\important"})
# Top-level names that mean a use on servers without special-use attributes (lower case).
WELL_KNOWN = {
    "sent": "\\sent", "sent items": "\\sent", "sent mail": "\\sent", "sent messages": "\\sent",
    "drafts": "\\drafts", "draft": "\\drafts",
    "trash": "\\trash", "deleted items": "\\trash", "deleted messages": "\\trash", "bin": "\\trash",
    "junk": "\\junk", "spam": "\\junk", "junk e-mail": "\\junk", "bulk mail": "\\junk",
    "archive": "\\archive", "archives": "\\archive",
}  # fmt: skip
PROVIDER_PREFIXES = ("[gmail]", "[google mail]")
UNSELECTABLE = frozenset({"\\noselect", "\\nonexistent"})
DELIMITER = "/"  # ours (secumail's dovecot.conf: namespace inbox, separator /)


@dataclass(frozen=True)
class Folder:
    """A folder as a server lists it: `name` decoded, `wire` as IMAP spells it (modified UTF-7)."""

    name: str
    wire: str
    delimiter: str | None
    attributes: frozenset[str]

    @property
    def selectable(self) -> bool:
        return not self.attributes & UNSELECTABLE

    @property
    def is_inbox(self) -> bool:
        return self.name.upper() == "INBOX"


def from_list(entries: Iterable[tuple[frozenset[str], str | None, str]]) -> list[Folder]:
    """Folders from wire.list_entries(), in the server's order, each once."""
    seen: set[str] = set()
    folders = []
    for attributes, delimiter, wire_name in entries:
        if wire_name in seen:
            continue
        seen.add(wire_name)
        folders.append(Folder(mutf7.decode(wire_name), wire_name, delimiter, attributes))
    return folders


def _matches(name: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        if name.upper() == "INBOX" and pattern.upper() == "INBOX":
            return True
        if name == pattern or fnmatch.fnmatchcase(name, pattern):  # '[Gmail]/All Mail' is a name, not a class
            return True
    return False


def choose(folders: Iterable[Folder], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Folder]:
    """The folders to copy: selectable ones matching `include` (default: all but the views), minus `exclude`."""
    chosen = []
    for folder in folders:
        if not folder.selectable:
            continue
        if include:
            if not _matches(folder.name, include):
                continue
        elif folder.attributes & VIEWS:
            continue
        if exclude and _matches(folder.name, exclude):
            continue
        chosen.append(folder)
    return chosen


def relative_parts(folder: Folder, prefix: str = "") -> list[str]:
    """The folder's path below the personal namespace `prefix`, split at its delimiter."""
    name = folder.name
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        name = name[len(prefix) :]
    if not folder.delimiter:
        return [name]
    return name.split(folder.delimiter)


def use_of(folder: Folder, prefix: str = "") -> str | None:
    """The folder's special use: its attribute, else what its well-known name means (top level, or
    below Gmail's [Gmail]/ prefix)."""
    for attribute in folder.attributes:
        if attribute in USES:
            return attribute
    parts = relative_parts(folder, prefix)
    if len(parts) == 2 and parts[0].lower() in PROVIDER_PREFIXES:
        parts = parts[1:]
    if len(parts) == 1:
        return WELL_KNOWN.get(parts[0].lower())
    return None


def _clean(part: str) -> str:
    """One level of a name as our Dovecot takes it: '.' separates levels on disk, '*' and '%' are LIST
    wildcards (both refused in a name)."""
    for refused in (DELIMITER, ".", "*", "%"):
        part = part.replace(refused, "_")
    return part or "_"


def target(folder: Folder, *, prefix: str = "", ours: dict[str, str] | None = None) -> str:
    """Our folder (decoded, '/' between levels) for `folder`; `ours` maps a use to our folder of that use."""
    if folder.is_inbox:
        return "INBOX"
    use = use_of(folder, prefix)
    if use is not None:
        return (ours or {}).get(use) or USES[use]
    parts = relative_parts(folder, prefix)
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return DELIMITER.join(_clean(part) for part in parts)


def our_uses(folders: Iterable[Folder]) -> dict[str, str]:
    """Use → our folder of that use, from our own LIST answer (first folder of each use)."""
    found: dict[str, str] = {}
    for folder in folders:
        for attribute in folder.attributes:
            if attribute in USES:
                found.setdefault(attribute, folder.name)
    return found


def personal_prefix(data: Iterable[object]) -> str:
    """The personal namespace prefix from a NAMESPACE answer (('INBOX.' '.')) NIL NIL → 'INBOX.'."""
    from secumail.mail.imapimport import wire

    flat = wire.values(data)
    personal = flat[0] if flat else None
    if isinstance(personal, list) and personal and isinstance(personal[0], list) and personal[0]:
        return mutf7.decode(wire.text(personal[0][0]))
    return ""
