"""The maildir corpus the backup tests and benchmarks use: deterministic, Maildir++ shaped."""

import json
import os
import re

from tests.support import maildir

NAME = re.compile(r"^\d+\.M\d+P\d+\.mail,S=(\d+),W=(\d+)(:2,[A-Z]*)?$")


def files(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = (handle.read(), st.st_mtime_ns)
    return out


def test_same_seed_same_tree_other_seed_other_tree(tmp_path):
    maildir.create(tmp_path / "a", messages=60, users=3, seed=4)
    maildir.create(tmp_path / "b", messages=60, users=3, seed=4)
    maildir.create(tmp_path / "c", messages=60, users=3, seed=5)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_layout_names_and_uidlists(tmp_path):
    summary = maildir.create(tmp_path, messages=200, users=4, seed=1)
    boxes = sorted(os.path.relpath(p, tmp_path / "mail") for p in (tmp_path / "mail").glob("*/*"))
    assert boxes == ["example.com/user000", "example.com/user002", "example.net/user001", "example.net/user003"]
    messages = [p for p in (tmp_path / "mail").rglob("*") if p.parent.name in ("cur", "new")]
    assert len(messages) == 200
    assert sum(p.stat().st_size for p in messages) == summary["bytes"]
    for path in messages:
        match = NAME.match(path.name)
        assert match, path.name
        data = path.read_bytes()
        assert int(match.group(1)) == len(data)
        assert (path.parent.name == "new") == (match.group(3) is None)
        assert data.startswith(b"Return-Path: <")
    box = tmp_path / "mail" / "example.com" / "user000"
    assert {p.name for p in box.iterdir()} >= {"cur", "new", "tmp", ".Sent", ".Archive", "dovecot-uidlist"}
    listed = (box / "dovecot-uidlist").read_text().splitlines()
    assert listed[0].startswith("3 V")
    assert len(listed) - 1 == sum(1 for sub in ("cur", "new") for _ in (box / sub).iterdir())


def test_mix_of_text_and_incompressible_attachments(tmp_path):
    import zlib

    maildir.create(tmp_path, messages=300, users=3, seed=1)
    messages = [p.read_bytes() for p in (tmp_path / "mail").rglob("*") if p.parent.name in ("cur", "new")]
    with_attachment = [m for m in messages if b"multipart/mixed" in m]
    assert 0.05 < len(with_attachment) / len(messages) < 0.25
    text = b"".join(m for m in messages if m not in with_attachment)
    assert len(zlib.compress(text)) < len(text) / 2
    sizes = sorted(len(m) for m in messages)
    assert sizes[len(sizes) // 2] < 20_000 < sizes[-1]


def test_mutate_adds_renames_and_deletes(tmp_path):
    maildir.create(tmp_path, messages=400, users=3, seed=1)
    before = files(tmp_path)
    summary = maildir.mutate(tmp_path, percent=1, seed=2)
    after = files(tmp_path)
    assert summary == {"new_messages": 4, "new_bytes": summary["new_bytes"], "renamed": 20, "deleted": 2}
    assert len([k for k in after if k not in before]) == 4 + 20
    assert len([k for k in before if k not in after]) == 20 + 2


def test_command_line(tmp_path, capsys):
    assert maildir.main([str(tmp_path), "--messages", "30", "--users", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["messages"] == 30
    assert maildir.main([str(tmp_path), "--messages", "30"]) == 1
    assert "exists" in capsys.readouterr().err
