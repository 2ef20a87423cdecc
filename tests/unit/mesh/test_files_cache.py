"""The files cache skips unchanged files only while their objects are still indexed."""

from __future__ import annotations

from secumail.mesh.backup import backup
from secumail.mesh.identity import load_or_create
from secumail.mesh.repo import Repository
from secumail.mesh.restore import restore


def test_an_unchanged_file_whose_object_left_the_index_is_read_again(tmp_path):
    data = tmp_path / "data"
    (data / "mail").mkdir(parents=True)
    for i in range(20):
        (data / "mail" / f"m{i}").write_text(f"message {i}\n" * 50)
    node = load_or_create(str(data))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    with Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db")) as repo:
        first = backup(repo, node, str(data), None, "host")
        assert backup(repo, node, str(data), None, "host")["files_read"] == 0
        # as after a prune that dropped m3's object: its files-cache row is still there
        gone = repo.cache.db.execute("SELECT ids FROM files WHERE path='mail/m3'").fetchone()[0]
        repo.cache.db.execute("DELETE FROM objects WHERE oid=?", (gone,))
        again = backup(repo, node, str(data), None, "host")
        assert again["files_read"] == 1 and again["new_objects"] >= 1
        assert again["files"] == first["files"]
        restore(repo, None, str(tmp_path / "out"))
    assert (tmp_path / "out" / "mail" / "m3").read_text() == "message 3\n" * 50
