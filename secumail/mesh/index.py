"""Index files (encrypted JSON, docs/backup-format.md 4) and the local SQLite cache.

The cache holds the merged index and the files cache on disk, so memory does
not grow with the number of messages. It is only a cache: everything in it
can be rebuilt from the repository's index files.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from secumail.errors import BackupFormatError
from secumail.mesh.crypto import Cipher
from secumail.mesh.pack import Entry

INDEX_AD = b"secumail-index-v1"

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


def encode_index(cipher: Cipher, packs: dict[str, list[Entry]], supersedes: Iterable[str] = ()) -> bytes:
    doc = {
        "supersedes": sorted(supersedes),
        "packs": [
            {
                "id": name,
                "objects": [
                    {
                        "id": e.oid.hex(),
                        "type": e.obj_type,
                        "offset": e.offset,
                        "length": e.length,
                        "plain": e.plain,
                    }
                    for e in entries
                ],
            }
            for name, entries in packs.items()
        ],
    }
    return cipher.seal_file(json.dumps(doc, separators=(",", ":")).encode(), INDEX_AD)


def decode_index(cipher: Cipher, sealed: bytes, name: str) -> dict[str, Any]:
    try:
        doc = json.loads(cipher.open_file(sealed, INDEX_AD, f"index {name}"))
        packs = {
            p["id"]: [
                Entry(bytes.fromhex(o["id"]), o["type"], o["offset"], o["length"], o["plain"])
                for o in p["objects"]
            ]
            for p in doc["packs"]
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupFormatError(f"index {name} is not a valid index: {exc}") from None
    return {"supersedes": list(doc.get("supersedes", [])), "packs": packs}


class Cache:
    """SQLite-backed index + files cache for one repository."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # index ------------------------------------------------------------------
    def loaded_indexes(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT name FROM indexes")}

    def reset_index(self) -> None:
        self.db.execute("DELETE FROM objects")
        self.db.execute("DELETE FROM indexes")

    def add_index(self, name: str, packs: dict[str, list[Entry]]) -> None:
        with self.transaction():
            self.add_packs(packs)
            self.db.execute("INSERT OR IGNORE INTO indexes VALUES (?)", (name,))

    def add_packs(self, packs: dict[str, list[Entry]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?)",
            (
                (e.oid, pack, e.offset, e.length, e.obj_type, e.plain)
                for pack, entries in packs.items()
                for e in entries
            ),
        )

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

    def all_entries(self) -> Iterator[tuple[str, Entry]]:
        rows = self.db.execute(
            "SELECT pack, oid, type, offset, length, plain FROM objects ORDER BY pack, offset"
        )
        for r in rows:
            yield r[0], Entry(bytes(r[1]), r[2], r[3], r[4], r[5])

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]

    # files cache --------------------------------------------------------------
    def file_ids(self, path: str, size: int, mtime: int, inode: int) -> list[bytes] | None:
        row = self.db.execute(
            "SELECT ids FROM files WHERE path=? AND size=? AND mtime=? AND inode=?",
            (path, size, mtime, inode),
        ).fetchone()
        if row is None:  # a maildir flag change renames without touching inode, size or mtime
            row = self.db.execute(
                "SELECT ids FROM files WHERE inode=? AND size=? AND mtime=?", (inode, size, mtime)
            ).fetchone()
        if row is None:
            return None
        blob = bytes(row[0])
        return [blob[i : i + 32] for i in range(0, len(blob), 32)]

    def remember_file(self, path: str, size: int, mtime: int, inode: int, ids: list[bytes], gen: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)",
            (path, size, mtime, inode, b"".join(ids), gen),
        )

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
