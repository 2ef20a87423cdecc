"""Index files (encrypted binary records, docs/backup-format.md 4) and the local SQLite cache.

An index file is a flat array of fixed-size records, so it is written, merged
(by concatenating bodies) and loaded into the cache without one Python object
per object id: memory follows the size of one index file, which is capped, not
the size of the repository. The cache holds the merged index and the files
cache on disk; it is only a cache and can be rebuilt from the index files.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from secumail.errors import BackupFormatError
from secumail.mesh.crypto import Cipher
from secumail.mesh.pack import ENTRY, Entry

INDEX_AD = b"secumail-index-v2"
MAGIC = b"SMIX\x02"
_COUNT = struct.Struct("<I")
# an index file holds at most this many object entries (~740 KiB of records): merges and
# prune cut their output here, so writing or loading one index needs bounded memory
MAX_ENTRIES = 16384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (oid BLOB PRIMARY KEY, pack TEXT, offset INTEGER, length INTEGER,
                                    type INTEGER, plain INTEGER);
CREATE INDEX IF NOT EXISTS objects_pack ON objects(pack);
CREATE TABLE IF NOT EXISTS indexes (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER, inode INTEGER,
                                  ids BLOB, gen INTEGER);
CREATE INDEX IF NOT EXISTS files_inode ON files(inode, size, mtime);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def entries_blob(entries: Iterable[Entry]) -> bytes:
    return b"".join(ENTRY.pack(e.obj_type, e.offset, e.length, e.plain, e.oid) for e in entries)


def pack_record(pack: str, blob: bytes) -> bytes:
    """One pack's record: its name, the entry count and the entries (ENTRY each)."""
    return bytes.fromhex(pack) + _COUNT.pack(len(blob) // ENTRY.size) + blob


@dataclass(frozen=True)
class IndexData:
    """A decoded index file: superseded index names and the pack records, as bytes."""

    supersedes: list[str]
    body: bytes
    entries: int

    def packs(self) -> Iterator[tuple[str, bytes]]:
        """(pack name, entry blob) per pack record."""
        pos, view = 0, memoryview(self.body)
        while pos < len(view):
            (count,) = _COUNT.unpack_from(view, pos + 32)
            start = pos + 36
            yield bytes(view[pos : pos + 32]).hex(), bytes(view[start : start + count * ENTRY.size])
            pos = start + count * ENTRY.size

    def rows(self) -> Iterator[tuple[bytes, str, int, int, int, int]]:
        """(oid, pack, offset, length, type, plain) for the cache, one at a time."""
        for pack, blob in self.packs():
            for obj_type, offset, length, plain, oid in ENTRY.iter_unpack(blob):
                yield oid, pack, offset, length, obj_type, plain


def encode_index(cipher: Cipher, body: bytes, supersedes: Iterable[str] = ()) -> bytes:
    """Seal pack records (concatenated `pack_record`s) as one index file."""
    names = sorted(supersedes)
    head = MAGIC + _COUNT.pack(len(names)) + b"".join(bytes.fromhex(n) for n in names)
    return cipher.seal_file(head + body, INDEX_AD)


def decode_index(cipher: Cipher, sealed: bytes, name: str) -> IndexData:
    plain = cipher.open_file(sealed, INDEX_AD, f"index {name}")
    bad = BackupFormatError(f"index {name} is not a valid index (truncated or unknown layout)")
    if plain[:5] != MAGIC or len(plain) < 9:
        raise bad
    (n_sup,) = _COUNT.unpack_from(plain, 5)
    pos = 9 + 32 * n_sup
    if pos > len(plain):
        raise bad
    supersedes = [plain[i : i + 32].hex() for i in range(9, pos, 32)]
    body = plain[pos:]
    del plain
    # check the record structure once, so later iteration cannot run off the end
    at, entries = 0, 0
    while at < len(body):
        if at + 36 > len(body):
            raise bad
        (count,) = _COUNT.unpack_from(body, at + 32)
        at += 36 + count * ENTRY.size
        entries += count
    if at != len(body):
        raise bad
    return IndexData(supersedes, body, entries)


class Cache:
    """SQLite-backed index + files cache for one repository."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def reader(self) -> sqlite3.Connection:
        """A read connection for another thread (WAL: it sees committed rows, never blocks the writer).

        Closed by the thread that asked for it or, once that thread is done, by any other.
        """
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    # index ------------------------------------------------------------------
    def loaded_indexes(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT name FROM indexes")}

    def reset_index(self) -> None:
        self.db.execute("DELETE FROM objects")
        self.db.execute("DELETE FROM indexes")

    def add_index(self, name: str, data: IndexData) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?)", data.rows())
            self.db.execute("INSERT OR IGNORE INTO indexes VALUES (?)", (name,))

    def lookup(self, oid: bytes) -> tuple[str, int, int, int] | None:
        row = self.db.execute("SELECT pack, offset, length, type FROM objects WHERE oid=?", (oid,)).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    def has(self, oid: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM objects WHERE oid=?", (oid,)).fetchone() is not None

    def packs(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT DISTINCT pack FROM objects")}

    def pack_entries(self, pack: str) -> list[Entry]:
        rows = self.db.execute(
            "SELECT oid, type, offset, length, plain FROM objects WHERE pack=? ORDER BY offset", (pack,)
        )
        return [Entry(bytes(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    def pack_records(self) -> Iterator[tuple[str, bytes]]:
        """(pack, entry blob) for every indexed pack, one pack in memory at a time."""
        rows = self.db.execute(
            "SELECT pack, oid, type, offset, length, plain FROM objects ORDER BY pack, offset"
        )
        pack, parts = None, []
        for r in rows:
            if r[0] != pack:
                if parts:
                    yield pack, b"".join(parts)  # type: ignore[misc]
                pack, parts = r[0], []
            parts.append(ENTRY.pack(r[2], r[3], r[4], r[5], bytes(r[1])))
        if parts:
            yield pack, b"".join(parts)  # type: ignore[misc]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]

    # files cache --------------------------------------------------------------
    def file_ids(self, path: str, size: int, mtime: int, inode: int) -> tuple[list[bytes], int | None, bool] | None:
        """(object ids, rowid when the row is under this very path, all ids indexed) of an unchanged file.

        None when there is no row. One lookup by (inode, size, mtime) finds the file under
        its path and after a rename (a maildir flag change renames without touching inode,
        size or mtime). A row found under its own path only needs its generation moved on
        (`touch_files`). For a one-object file the same query says whether that object is
        indexed (False means: not known here, ask the writer).
        """
        row = self.db.execute(
            "SELECT ids, rowid, path=?, length(ids)=32 AND EXISTS(SELECT 1 FROM objects WHERE oid=files.ids) "
            "FROM files WHERE inode=? AND size=? AND mtime=? ORDER BY path=? DESC LIMIT 1",
            (path, inode, size, mtime, path),
        ).fetchone()
        if row is None:
            return None
        blob = bytes(row[0])
        return [blob[i : i + 32] for i in range(0, len(blob), 32)], row[1] if row[2] else None, bool(row[3])

    def touch_files(self, rows: list[tuple[int, int]]) -> None:
        """(gen, rowid) rows: files seen unchanged under the same path keep their row, with a new gen."""
        self.db.executemany("UPDATE files SET gen=? WHERE rowid=?", rows)

    def remember_files(self, rows: list[tuple[str, int, int, int, bytes, int]]) -> None:
        """(path, size, mtime, inode, joined ids, gen) rows, in one statement."""
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)", rows)

    def has_files(self) -> bool:
        return self.db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def forget_files_before(self, gen: int) -> None:
        self.db.execute("DELETE FROM files WHERE gen < ?", (gen,))

    def meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    def transaction(self) -> _Txn:
        return _Txn(self.db)


class _Txn:
    """BEGIN/COMMIT, or nothing when a transaction is already open (the caller commits)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.db.in_transaction
        if self.outer:
            self.db.execute("BEGIN")

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self.outer:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
