"""Sealing threads write packs of their own: an object is still stored once, and claims stay bounded."""

from __future__ import annotations

import filecmp
import os

import pytest

from secumail.mesh import backup as backup_mod
from secumail.mesh import pack
from secumail.mesh.backup import backup
from secumail.mesh.crypto import TYPE_DATA
from secumail.mesh.identity import load_or_create
from secumail.mesh.repo import ObjectWriter, Repository
from secumail.mesh.restore import restore, verify

DISTINCT = 150


@pytest.fixture
def threads(monkeypatch):
    monkeypatch.setattr(backup_mod, "WORKERS", 2)
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 3)  # many batches, spread over both threads
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pack, "PACK_TARGET", 16 << 10)  # packs close (and claims end) during the run


def make_tree(root) -> None:
    """DISTINCT contents, each in three folders (identical files land in different batches)."""
    bodies = [f"Subject: {i}\n\n" + os.urandom(600).hex() for i in range(DISTINCT)]
    for copy in range(3):
        folder = root / "mail" / f"user{copy}" / "cur"
        folder.mkdir(parents=True)
        for i, body in enumerate(bodies):
            (folder / f"m{i}").write_text(body)


def test_identical_files_on_two_threads_are_stored_once(tmp_path, threads):
    data = tmp_path / "data"
    make_tree(data)
    node = load_or_create(str(data))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        result = backup(repo, node, str(data), None, "host")
        assert result["files_read"] == 3 * DISTINCT + 1  # + the node key
        assert result["packs"] > 4
        data_objects = [r for r in repo.cache.db.execute("SELECT type FROM objects") if r[0] == TYPE_DATA]
        assert len(data_objects) == DISTINCT + 1
        # the index files hold each object once: none was written into two packs
        entries = sum(repo.read_index(name).entries for name in repo.list("index"))
        assert entries == repo.cache.count()
        assert verify(repo)["snapshots"] == 1
        restore(repo, None, str(tmp_path / "out"))
    for copy in range(3):
        same = filecmp.dircmp(data / "mail" / f"user{copy}" / "cur", tmp_path / "out" / "mail" / f"user{copy}" / "cur")
        assert not same.diff_files and not same.left_only and not same.right_only


def test_claims_end_when_their_pack_is_indexed(tmp_path, threads, monkeypatch):
    """What the writer holds per object lasts until its pack's index is committed, not the whole backup."""
    data = tmp_path / "data"
    make_tree(data)
    node = load_or_create(str(data))
    held: list[int] = []
    still_claimed_after_commit: list[bytes] = []
    index_finished = ObjectWriter.index_finished

    def watched(self):
        index_finished(self)
        with self._lock:
            claimed = set(self._claimed)
        held.append(len(claimed))
        still_claimed_after_commit.extend(oid for oid in claimed if self.repo.cache.has(oid))

    monkeypatch.setattr(ObjectWriter, "index_finished", watched)
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        backup(repo, node, str(data), None, "host")
    # However the threads were scheduled: an indexed object is never still claimed after a commit.
    assert not still_claimed_after_commit
    assert held and held[-1] == 0


def test_an_index_commit_releases_exactly_the_claims_of_the_packs_it_lists(tmp_path, threads):
    node = load_or_create(str(tmp_path / "data"))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        writer = ObjectWriter(repo)
        stored: list[bytes] = []
        while not writer.pending_index():  # until the first pack is full and closed
            stored.append(writer.store(TYPE_DATA, os.urandom(1200)))
        in_open_pack = [writer.store(TYPE_DATA, os.urandom(1200)) for _ in range(3)]
        assert set(stored) | set(in_open_pack) == writer._claimed
        writer.index_finished()
        assert writer._claimed == set(in_open_pack)  # the closed pack's objects: indexed, released
        assert all(repo.cache.has(oid) for oid in stored)
        assert all(writer.has(oid) for oid in in_open_pack)  # still known while their pack is open
        writer.flush()
        assert not writer._claimed
        repo.cache.db.commit()
