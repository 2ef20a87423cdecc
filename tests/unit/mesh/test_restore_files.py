"""Restore writes new names in place and replaces existing files only whole; a damaged file is not left half."""

from __future__ import annotations

import os

from secumail.mesh.backup import backup
from secumail.mesh.identity import load_or_create
from secumail.mesh.repo import Repository
from secumail.mesh.restore import restore


def _repo_with(tmp_path, files: dict[str, bytes]):
    data = tmp_path / "data"
    for rel, content in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(content)
    node = load_or_create(str(data))
    Repository.init(str(tmp_path / "repo"), b"k" * 64, node.node_id)
    repo = Repository(str(tmp_path / "repo"), b"k" * 64, str(tmp_path / "cache.db"))
    backup(repo, node, str(data), None, "host")
    return repo


def _leftovers(root) -> list[str]:
    return [name for _dir, _subdirs, names in os.walk(root) for name in names if name.startswith(".tmp-restore-")]


def test_existing_files_are_replaced_and_new_ones_written(tmp_path):
    files = {f"mail/cur/m{i}": os.urandom(3000) for i in range(40)}
    files["mail/cur/" + "n" * 200] = b"a long name\n"  # its temp name is cut and hashed
    with _repo_with(tmp_path, files) as repo:
        out = tmp_path / "out"
        (out / "mail" / "cur").mkdir(parents=True)
        (out / "mail" / "cur" / "m3").write_bytes(b"stale")
        (out / "mail" / "cur" / ("n" * 200)).write_bytes(b"stale too")
        result = restore(repo, None, str(out))
    assert result["files"] == len(files) + 1  # + the node key
    for rel, content in files.items():
        assert (out / rel).read_bytes() == content
    assert _leftovers(out) == []


def test_a_file_that_fails_half_way_is_not_left(tmp_path):
    big = os.urandom(3 << 20)  # three 1 MiB objects: the second one is damaged
    with _repo_with(tmp_path, {"mail/big": big, "mail/small": b"fine\n"}) as repo:
        oid = repo.cipher.object_id(big[1 << 20 : 2 << 20])
        pack, offset, _length, _type = repo.cache.lookup(oid)
        with open(repo.file_path("data", pack), "r+b") as handle:
            handle.seek(offset + 40)
            byte = handle.read(1)
            handle.seek(offset + 40)
            handle.write(bytes([byte[0] ^ 1]))
        out = tmp_path / "out"
        result = restore(repo, None, str(out), tolerate_loss=True)
    assert len(result["lost"]) == 1 and result["lost"][0].startswith("mail/big (")
    assert not (out / "mail" / "big").exists()
    assert (out / "mail" / "small").read_bytes() == b"fine\n"
    assert _leftovers(out) == []
