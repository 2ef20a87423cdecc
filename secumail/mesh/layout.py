"""Which names may travel between peers: the repository layout of docs/backup-format.md 2.

`heads/<sha256>` are the signed head records (docs/backup-format.md 6.3).

A peer is not trusted to name files. Everything that is written on its word
(a pull into our store for it, a push into our inbox for it) must be one of
these relative names; anything else is refused before a byte is written.
"""

from __future__ import annotations

import re

HEX = "[0-9a-f]{64}"
SLOT = "[A-Za-z0-9_-]{1,64}"
# a repository copy (pull, /repo, /stored)
REPO_FILE = re.compile(
    rf"^(?:config|recovery\.pub|keys/{SLOT}|index/{HEX}|snapshots/{HEX}|heads/{HEX}"
    rf"|data/(?P<xx>[0-9a-f]{{2}})/(?P<pack>{HEX}))$"
)
# what a peer may push into its inbox: the same, mutable files under content names (ingest.py)
INBOX_FILE = re.compile(
    rf"^(?:config|index/{HEX}|snapshots/{HEX}|heads/{HEX}|data/(?P<xx>[0-9a-f]{{2}})/(?P<pack>{HEX})"
    rf"|keys/{SLOT}\.{HEX}|recovery\.pub\.{HEX})$"
)
DIR = re.compile(r"^(?:data|index|snapshots|heads|keys|data/[0-9a-f]{2})$")
TEMP = re.compile(r"^\.tmp-[A-Za-z0-9_-]{1,64}$")
MAX_DEPTH = 3  # data/<xx>/<name>
MUTABLE_MAX = 1 << 20  # config, key slots and recovery.pub are a few hundred bytes
BLOCK = 4096  # a file costs at least one block of the peer's quota, however small


def unsafe(name: str) -> bool:
    """A single name from a listing that could leave its directory or is no plain name at all."""
    return name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name


def _match(pattern: re.Pattern[str], rel: str) -> bool:
    found = pattern.match(rel)
    return found is not None and (found.group("xx") is None or found.group("pack").startswith(found.group("xx")))


def repo_file(rel: str) -> bool:
    return _match(REPO_FILE, rel)


def inbox_file(rel: str) -> bool:
    return _match(INBOX_FILE, rel)


def layout_dir(rel: str) -> bool:
    return DIR.match(rel) is not None


def storage_named(rel: str) -> bool:
    """Packs, indexes and snapshots: their name is the SHA-256 of their bytes."""
    return re.fullmatch(HEX, rel.rsplit("/", 1)[-1]) is not None and not rel.startswith("keys/")


def charge(size: int) -> int:
    """What a file of `size` bytes costs against a quota."""
    return max(size, BLOCK)


def shown(name: str) -> str:
    """A peer-supplied name fit for one error line."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."
