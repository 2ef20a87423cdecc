"""Backup and prune memory must not grow with the number of files (flat RSS when the maildir doubles).

N and 2N small generated files are backed up into fresh repositories in-process
and tracemalloc's peak is compared. Packs and index files are made small here
and tree objects (monkeypatched caps) so that the bounded structures are already at their cap
at N: whatever still grows between N and 2N is memory per object — a dict of
object ids, a files cache or an index held as Python objects would show.
"""

from __future__ import annotations

import gc
import os
import random
import tracemalloc

import pytest

from secumail.mesh import backup as backup_mod
from secumail.mesh import index as idx
from secumail.mesh import pack, snapshot
from secumail.mesh.backup import backup
from secumail.mesh.identity import load_or_create
from secumail.mesh.prune import prune
from secumail.mesh.repo import Repository

N = 2500


def make_tree(root, count: int) -> None:
    """count distinct ~1.4 KB messages, 100 per maildir folder (a bigger tree has more folders)."""
    for i in range(count):
        folder = root / "mail" / f"user{i // 100:03d}" / "cur"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        noise = random.Random(i).randbytes(500).hex()  # ~600 bytes after compression
        body = f"Subject: message {i}\n\n{noise}\n" + f"line {i} of a small message body\n" * 10
        (folder / f"{1762077600 + i}.M{i}P1.host,S={len(body)}:2,S").write_text(body)


def measure(root, count: int) -> tuple[int, int]:
    """(peak bytes during a full backup, peak bytes during a prune that drops half the packs)."""
    data = root / "data"
    make_tree(data, count)
    node = load_or_create(str(data))
    Repository.init(str(root / "repo"), b"k" * 64, node.node_id)
    with Repository(str(root / "repo"), b"k" * 64, str(root / "cache.db")) as repo:
        gc.collect()  # earlier tests' garbage: its finalizers must not run (and allocate) inside the measure
        tracemalloc.start()
        try:
            result = backup(repo, node, str(data), None, "host")
            backup_peak = tracemalloc.get_traced_memory()[1]
            assert result["files"] >= count and result["packs"] > 8
            # half of the messages go away (the first users' folders); prune keeps only the newer snapshot
            for path in sorted((data / "mail").glob("user*/cur/*"))[: count // 2]:
                path.unlink()
            backup(repo, node, str(data), None, "host")
            tracemalloc.reset_peak()
            pruned = prune(repo, last=1, daily=0, weekly=0, monthly=0)
            prune_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert pruned["packs_deleted"] > 0 and len(pruned["forgotten"]) == 1
        assert len(repo.list("index")) > 1, "prune must write several bounded indexes, not one"
    return backup_peak, prune_peak


@pytest.fixture
def small_caps(monkeypatch):
    monkeypatch.setattr(pack, "PACK_TARGET", 64 << 10)  # ~100 objects per pack
    monkeypatch.setattr(idx, "MAX_ENTRIES", 512)  # ~5 packs per index
    monkeypatch.setattr(snapshot, "TREE_CUT", 32 << 10)  # ~150 files per tree object
    # sealing threads hold up to IN_FLIGHT bytes, more or less by scheduling luck: measured alone below
    monkeypatch.setattr(backup_mod, "WORKERS", 0)


def test_backup_and_prune_peak_memory_is_flat_when_the_tree_doubles(tmp_path, small_caps):
    backup_n, prune_n = measure(tmp_path / "n", N)
    backup_2n, prune_2n = measure(tmp_path / "2n", 2 * N)
    # per-object state of even 100 bytes would add 250 KB between N and 2N
    slack = 128 << 10
    assert backup_2n < backup_n + slack, f"backup peak {backup_n} -> {backup_2n} bytes when files doubled"
    assert prune_2n < prune_n + slack, f"prune peak {prune_n} -> {prune_2n} bytes when files doubled"
    assert backup_2n < 4 << 20 and prune_2n < 4 << 20


def test_index_files_respect_the_entry_cap(tmp_path, small_caps):
    data = tmp_path / "data"
    make_tree(data, 1200)
    node = load_or_create(str(data))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        backup(repo, node, str(data), None, "host")
        sizes = [repo.read_index(name).entries for name in repo.list("index")]
        assert max(sizes) <= 512 and sum(sizes) == repo.cache.count()
        # a fresh cache rebuilt from the files finds every object again
        os.unlink(tmp_path / "cache.db")
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache2.db")) as repo:
        repo.sync_cache()
        assert repo.cache.count() == sum(sizes)


def test_sealing_threads_read_ahead_is_capped(tmp_path, monkeypatch, small_caps):
    """With sealing threads, bytes read ahead stay under IN_FLIGHT (+ one file) and the queue under MAX_QUEUE."""
    monkeypatch.setattr(backup_mod, "WORKERS", 2)
    monkeypatch.setattr(backup_mod, "IN_FLIGHT", 64 << 10)
    monkeypatch.setattr(backup_mod, "MAX_QUEUE", 64)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    seen = {"bytes": 0, "queue": 0, "pool": False}
    drain = backup_mod._Pipeline._drain

    def watched(self, everything=False):
        seen["pool"] = seen["pool"] or self.pool is not None
        seen["bytes"] = max(seen["bytes"], self.in_flight)
        seen["queue"] = max(seen["queue"], len(self.queue))
        drain(self, everything)

    monkeypatch.setattr(backup_mod._Pipeline, "_drain", watched)
    data = tmp_path / "data"
    make_tree(data, 1500)
    (data / "big").write_bytes(os.urandom(3 << 20))  # chunked: its chunks are stored as they are sealed
    node = load_or_create(str(data))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        result = backup(repo, node, str(data), None, "host")
    assert seen["pool"] and result["files_read"] == result["files"] >= 1501
    assert seen["bytes"] <= (64 << 10) + (1 << 20), seen  # the cap plus one object (1 MiB chunk)
    assert seen["queue"] <= 64 + 1, seen
