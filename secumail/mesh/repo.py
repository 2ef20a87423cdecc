"""A repository on disk: config, key slots, packs, indexes, snapshots (docs/backup-format.md).

`Repository` reads and writes files by storage name and keeps the SQLite
cache in step with the index files. `ObjectWriter` stores objects with dedup,
closing a pack every 8 MiB and indexing the packs closed since its last index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from secumail.config.layout import DataLayout
from secumail.errors import BackupFormatError, SecumailError
from secumail.mesh import index as idx
from secumail.mesh import keys as keymod
from secumail.mesh import snapshot as snap
from secumail.mesh.crypto import Cipher, Keys
from secumail.mesh.pack import ENTRY, PackWriter, read_header
from secumail.system.files import atomic_write, file_lock, fsync_dir

FORMAT = "secumail-mesh-repo"
VERSION = 2
# new repositories: files up to 1 MiB are one object, larger ones 1 MiB chunks, so one
# object (read, compressed, sealed) costs a few MiB of memory at most
CHUNK_SIZE = 1 << 20
KINDS = ("data", "index", "snapshots", "keys", "heads")
_NAME = re.compile(r"^[0-9a-f]{64}$")
_SUBDIR = re.compile(r"^[0-9a-f]{2}$")


def read_config(path: str) -> dict[str, Any]:
    cfg_path = os.path.join(path, "config")
    try:
        with open(cfg_path, "rb") as handle:
            cfg = json.loads(handle.read())
    except FileNotFoundError:
        raise SecumailError(f"{path} is not a secumail backup repository (no config file)") from None
    except ValueError:
        raise BackupFormatError(f"{cfg_path} is not valid JSON") from None
    if cfg.get("format") != FORMAT:
        raise BackupFormatError(f"{path} is not a secumail backup repository (format {cfg.get('format')!r})")
    if cfg.get("version") != VERSION:
        hint = " (version 1 had JSON indexes: start a new repository, see docs/backup-format.md 13)"
        raise BackupFormatError(
            f"{path} has repository format version {cfg.get('version')!r}; "
            f"this secumail reads version {VERSION}" + (hint if cfg.get("version") == 1 else "")
        )
    return cfg


class Repository:
    def __init__(self, path: str, master: bytes, cache_path: str | None = None) -> None:
        self.path = path
        self.config = read_config(path)
        self.cipher = Cipher(Keys(master))
        self.cipher_master = master
        self._tmpdir = None
        if cache_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="secumail-cache-")
            cache_path = os.path.join(self._tmpdir.name, "cache.db")
        self.cache = idx.Cache(cache_path)
        if self.cache.meta("repo_id") not in ("", self.config["id"]):
            self.cache.reset_index()
            self.cache.db.execute("DELETE FROM files")
        self.cache.set_meta("repo_id", self.config["id"])

    @staticmethod
    def init(path: str, master: bytes, node_id: str) -> None:
        for kind in KINDS:
            os.makedirs(os.path.join(path, kind), mode=0o700, exist_ok=True)
        if os.path.exists(os.path.join(path, "config")):
            return
        cfg = {
            "format": FORMAT,
            "version": VERSION,
            "id": os.urandom(16).hex(),
            "node_id": node_id,
            "chunk_size": CHUNK_SIZE,
            "whole_file_max": CHUNK_SIZE,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write(os.path.join(path, "config"), json.dumps(cfg, indent=1) + "\n", 0o600)

    def close(self) -> None:
        self.cache.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def lock(self, shared: bool = False) -> Iterator[None]:
        with file_lock(os.path.join(self.path, "lock"), shared=shared):
            yield

    # files by storage name -------------------------------------------------
    def file_path(self, kind: str, name: str) -> str:
        if kind == "data":
            return os.path.join(self.path, "data", name[:2], name)
        return os.path.join(self.path, kind, name)

    def list(self, kind: str) -> list[str]:
        base = os.path.join(self.path, kind)
        if kind != "data":
            return sorted(
                n for n in _listdir(base) if _NAME.match(n) or kind == "keys" and not n.startswith(".")
            )
        # only data/<xx>/<sha256>: a killed writer's data/.tmp-pack-* (and anything else) is ignored
        return sorted(
            n
            for sub in _listdir(base)
            if _SUBDIR.match(sub)
            for n in _listdir(os.path.join(base, sub))
            if _NAME.match(n) and n.startswith(sub)
        )

    def read(self, kind: str, name: str) -> bytes:
        with open(self.file_path(kind, name), "rb") as handle:
            return handle.read()

    def write(self, kind: str, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self.file_path(kind, name)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            atomic_write(path, data, 0o600)
        return name

    def install_pack(self, tmp: str, name: str) -> None:
        path = self.file_path("data", name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path))

    def cleanup_tmp(self) -> None:
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                if name.startswith(".tmp-"):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(root, name))

    # keys ---------------------------------------------------------------------
    def slot_files(self) -> list[tuple[str, bytes]]:
        return [(n, self.read("keys", n)) for n in self.list("keys")]

    def write_slot(self, name: str, data: bytes) -> None:
        atomic_write(os.path.join(self.path, "keys", name), data, 0o600)

    # index --------------------------------------------------------------------
    def sync_cache(self) -> None:
        """Bring the SQLite index in step with the index files on disk.

        Two passes, one index file in memory at a time: memory does not grow with
        the number of objects (a repository fetched from a peer has them all new).
        """
        on_disk = set(self.list("index"))
        loaded = self.cache.loaded_indexes()
        if loaded - on_disk:  # an index was superseded or pruned away: rebuild from scratch
            self.cache.reset_index()
            loaded = set()
        new = sorted(on_disk - loaded)
        superseded: set[str] = set()
        for name in new:
            superseded.update(self.read_index(name).supersedes)
        for name in new:
            if name in superseded:
                self.cache.db.execute("INSERT OR IGNORE INTO indexes VALUES (?)", (name,))
            else:
                self.cache.add_index(name, self.read_index(name))

    def read_index(self, name: str) -> idx.IndexData:
        return idx.decode_index(self.cipher, self.read("index", name), name)

    def write_index(self, body: bytes, supersedes: Iterable[str] = (), cache: bool = True) -> str:
        """Write pack records (see index.pack_record) as an index file; add it to the cache."""
        name = self.write("index", idx.encode_index(self.cipher, body, supersedes))
        if cache:
            self.cache.add_index(name, idx.IndexData(sorted(supersedes), body, 0))
        return name

    def recover_orphans(self) -> int:
        """Index packs a killed backup wrote but did not index, so their objects are not stored again."""
        known = self.cache.packs()
        count = 0
        for name in self.list("data"):
            if name in known:
                continue
            path = self.file_path("data", name)
            try:
                entries = read_header(self.cipher, path, name)
            except BackupFormatError:
                continue  # verify reports it; prune removes it
            self.write_index(idx.pack_record(name, idx.entries_blob(entries)))
            count += 1
        return count

    def merge_small_indexes(self, max_entries: int | None = None) -> None:
        """Merge indexes of fewer than max_entries/4 entries into indexes of at most max_entries.

        Merging is concatenating record bodies, and the cap keeps one merged index
        (and the memory to write it) bounded however large the repository grows.
        """
        max_entries = max_entries or idx.MAX_ENTRIES
        small: list[tuple[str, int]] = []
        for name in self.list("index"):
            count = self.read_index(name).entries
            if count < max_entries // 4:
                small.append((name, count))
        groups: list[list[str]] = []
        size = max_entries
        for name, count in small:
            if size + count > max_entries:
                groups.append([])
                size = 0
            groups[-1].append(name)
            size += count
        for group in groups:
            if len(group) < 2:
                continue
            body = b"".join(self.read_index(name).body for name in group)
            self.write_index(body, group)
            del body
            for name in group:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.file_path("index", name))
            self.cache.db.executemany("DELETE FROM indexes WHERE name=?", [(n,) for n in group])

    # objects -------------------------------------------------------------------
    def load_object(self, oid: bytes) -> bytes:
        where = self.cache.lookup(oid)
        if where is None:
            raise BackupFormatError(f"object {oid.hex()} is referenced but not in any index")
        pack, offset, length, obj_type = where
        try:
            with open(self.file_path("data", pack), "rb") as handle:
                handle.seek(offset)
                sealed = handle.read(length)
        except FileNotFoundError:
            raise BackupFormatError(f"object {oid.hex()}: its pack {pack} is missing") from None
        try:
            return self.cipher.open_object(obj_type, oid, sealed)
        except BackupFormatError as exc:
            raise BackupFormatError(f"{exc} in pack {pack}") from None

    # snapshots -----------------------------------------------------------------
    def snapshots(self) -> list[tuple[str, dict[str, Any]]]:
        out = [(n, snap.decode(self.cipher, self.read("snapshots", n), n)) for n in self.list("snapshots")]
        return sorted(out, key=lambda item: item[1]["time"])

    def find_snapshot(self, prefix: str | None) -> tuple[str, dict[str, Any]]:
        snaps = self.snapshots()
        if not snaps:
            raise SecumailError(f"{self.path} holds no snapshot yet (run 'mailctl mesh backup')")
        if not prefix or prefix == "latest":
            return snaps[-1]
        found = [s for s in snaps if s[0].startswith(prefix.lower())]
        if len(found) != 1:
            raise SecumailError(
                f"snapshot {prefix!r}: {'no' if not found else 'more than one'} snapshot matches"
            )
        return found[0]


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


class ObjectWriter:
    """Stores objects with dedup, from any thread; each closed pack is indexed by the owning thread.

    Each thread that stores fills a pack of its own, so sealing threads compress,
    seal, write and hash in parallel. The SQLite cache belongs to the thread that
    made the writer: a pack closed elsewhere waits until that thread calls
    `index_finished` (or `flush`). An object is *claimed* from the moment one
    thread decides to store it until its pack's index is committed to the cache,
    so no two threads store the same object, and the claims held at any time are
    bounded by the packs in flight, not by the size of the backup. Other threads
    look objects up through read connections of their own, which see committed
    rows only: that is why a claim lasts until the commit.
    """

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.cipher = repo.cipher
        self.new_objects = 0
        self.new_bytes = 0
        self.packs_written = 0
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self._packs: dict[int, PackWriter] = {}  # thread id -> its open pack
        self._finished: list[tuple[str, bytes]] = []  # (pack name, index entries), installed, not indexed
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []

    # lookups -------------------------------------------------------------------
    def _indexed(self, oid: bytes) -> bool:
        if threading.get_ident() == self._owner:
            return self.repo.cache.has(oid)
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self.repo.cache.reader()
            self._readers.append(db)
        return db.execute("SELECT 1 FROM objects WHERE oid=?", (oid,)).fetchone() is not None

    def has(self, oid: bytes) -> bool:
        with self._lock:
            return oid in self._claimed or self._indexed(oid)

    def _claim(self, oid: bytes) -> bool:
        """True when this thread is to store oid (it is neither indexed nor claimed by another)."""
        with self._lock:
            if oid in self._claimed or self._indexed(oid):
                return False
            self._claimed.add(oid)
            return True

    # storing ---------------------------------------------------------------------
    def store(self, obj_type: int, data: bytes) -> bytes:
        """Hash, compress, seal and write one object into this thread's pack, unless it is stored."""
        oid = self.cipher.object_id(data)
        if not self._claim(oid):
            return oid
        nonce, sealed = self.cipher.seal_object_parts(obj_type, oid, data)
        me = threading.get_ident()
        pack = self._packs.get(me)
        if pack is None:
            pack = self._packs[me] = PackWriter(self.cipher, os.path.join(self.repo.path, "data"))
        pack.add_sealed(obj_type, oid, nonce, sealed, len(data))
        with self._lock:
            self.new_objects += 1
            self.new_bytes += len(data)
        if pack.full:
            del self._packs[me]
            self._close(pack)
        return oid

    def _close(self, pack: PackWriter) -> None:
        """Finish and install a pack (in the thread that wrote it); its index waits for the owner."""
        tmp, name, entries = pack.finish()
        self.repo.install_pack(tmp, name)
        with self._lock:
            self._finished.append((name, entries))

    def pending_index(self) -> bool:
        """Packs closed (by any thread) whose index the owner has not written yet."""
        return bool(self._finished)

    def index_finished(self) -> None:
        """Owner thread: one index file for the packs closed since the last call; commit; release claims."""
        with self._lock:
            done, self._finished = self._finished, []
        if not done:
            return
        self.repo.write_index(b"".join(idx.pack_record(name, entries) for name, entries in done))
        self.packs_written += len(done)
        db = self.repo.cache.db
        if db.in_transaction:  # other threads' read connections see committed rows only
            db.execute("COMMIT")
            db.execute("BEGIN")
        with self._lock:
            for _name, entries in done:
                for *_rest, oid in ENTRY.iter_unpack(entries):
                    self._claimed.discard(oid)

    def flush(self) -> None:
        """Owner thread, with no other thread storing: close every open pack and index them."""
        packs, self._packs = list(self._packs.values()), {}
        for pack in packs:
            self._close(pack)
        self.index_finished()
        for db in self._readers:
            db.close()
        self._readers = []

    def abort(self) -> None:
        packs, self._packs = list(self._packs.values()), {}
        for pack in packs:
            pack.abort()
        for db in self._readers:
            db.close()
        self._readers = []


def open_own(data_path: str, node_id: str, create: bool = True) -> Repository:
    """This node's repository at data_path/backup/repo with its local master key and cache."""
    layout = DataLayout(data_path)
    path = layout.repository
    if not os.path.exists(os.path.join(path, "config")):
        if not create:
            raise SecumailError(f"no backup repository at {path} yet (run 'mailctl mesh backup')")
        master = keymod.load_or_create_master(data_path)
        os.makedirs(layout.backup, mode=0o700, exist_ok=True)
        Repository.init(path, master, node_id)
    elif not os.path.exists(layout.master_key):
        raise SecumailError(
            f"{path} exists but {layout.master_key} is missing: restore it with the recovery key "
            "('mailctl mesh recover')"
        )
    master = keymod.load_or_create_master(data_path)
    return Repository(path, master, layout.cache_db)
