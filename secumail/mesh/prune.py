"""Retention (keep last/daily/weekly/monthly from UCI) and removal of unreferenced packs."""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any

from secumail.mesh import index as idx
from secumail.mesh.pack import ENTRY
from secumail.mesh.repo import Repository
from secumail.mesh.snapshot import iter_tree


def select_keep(times: list[tuple[str, str]], last: int, daily: int, weekly: int, monthly: int) -> set[str]:
    """Names to keep, given (name, ISO time) oldest first, as restic's `forget` buckets them."""
    keep: set[str] = set()
    newest_first = sorted(times, key=lambda item: item[1], reverse=True)
    keep.update(name for name, _ in newest_first[:last])
    for count, bucket in ((daily, "%Y-%m-%d"), (weekly, "%G-%V"), (monthly, "%Y-%m")):
        seen: list[str] = []
        for name, when in newest_first:
            if len(seen) >= count:
                break
            key = datetime.datetime.strptime(when[:19], "%Y-%m-%dT%H:%M:%S").strftime(bucket)
            if key not in seen:
                seen.append(key)
                keep.add(name)
    return keep


def prune(
    repo: Repository, last: int, daily: int, weekly: int, monthly: int, *, dry_run: bool = False
) -> dict[str, Any]:
    with repo.lock():
        repo.sync_cache()
        snaps = repo.snapshots()
        keep = select_keep([(n, b["time"]) for n, b in snaps], last, daily, weekly, monthly)
        if snaps:
            keep.add(snaps[-1][0])  # never the newest: the head record names it (backup-format.md 6.3)
        forget = [n for n, _ in snaps if n not in keep]
        result: dict[str, Any] = {"kept": sorted(keep), "forgotten": forget, "packs_deleted": 0}
        if dry_run:
            return result
        for name in forget:
            os.unlink(repo.file_path("snapshots", name))
        db = repo.cache.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS used (oid BLOB PRIMARY KEY)")
        db.execute("DELETE FROM used")
        for name, body in snaps:
            if name in forget:
                continue
            db.executemany(
                "INSERT OR IGNORE INTO used VALUES (?)", ((bytes.fromhex(t),) for t in body["tree"])
            )
            for entry in iter_tree(repo.load_object, body["tree"]):
                db.executemany(
                    "INSERT OR IGNORE INTO used VALUES (?)", ((bytes.fromhex(o),) for o in entry.get("o", ()))
                )
        dead = [
            row[0]
            for row in db.execute(
                "SELECT pack FROM objects GROUP BY pack HAVING SUM(oid IN (SELECT oid FROM used)) = 0"
            )
        ]
        if not dead and not forget:
            return result
        # The survivors are rewritten as indexes of at most idx.MAX_ENTRIES entries each, streamed
        # from the cache one pack at a time. Only the last one supersedes the old indexes:
        # killed before it, the old ones still cover everything (the new ones only repeat
        # entries); killed after it, the new ones cover every surviving pack.
        old = set(repo.list("index"))
        dead_set = set(dead)
        written: set[str] = set()  # an unchanged group may hash to an old name: never delete it
        parts: list[bytes] = []
        entries = 0
        for pack, blob in repo.cache.pack_records():
            if pack in dead_set:
                continue
            if parts and entries + len(blob) // ENTRY.size > idx.MAX_ENTRIES:
                written.add(repo.write_index(b"".join(parts), cache=False))
                parts, entries = [], 0
            parts.append(idx.pack_record(pack, blob))
            entries += len(blob) // ENTRY.size
        old -= written
        written.add(repo.write_index(b"".join(parts), old, cache=False))
        old -= written
        del parts
        for pack in dead:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(repo.file_path("data", pack))
        for name in old:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(repo.file_path("index", name))
        repo.cache.reset_index()
        repo.sync_cache()
        result["packs_deleted"] = len(dead)
    return result
