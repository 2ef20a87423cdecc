"""Replay the libuci golden cases (see golden/README.md) through secumail.uci.cli.main."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from secumail.uci import cli

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) if GOLDEN.is_dir() else []


def _decode(text: str) -> bytes:
    return json.loads(text).encode("utf-8", "surrogateescape")


def _files(directory: Path) -> dict:
    """name → bytes for every file; a missing directory is empty (git drops empty dirs)."""
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _run(argv: list) -> tuple:
    out, err = io.BytesIO(), io.BytesIO()
    rc = cli.main(argv, stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str, tmp_path: Path) -> None:
    src = GOLDEN / case
    confdir = tmp_path / "config"
    savedir = tmp_path / "save"
    shutil.copytree(src / "before", confdir)
    savedir.mkdir()
    prefix = ["-c", str(confdir), "-P", str(savedir)]

    argvs = [json.loads(line) for line in (src / "argv.jsonl").read_text().splitlines()]
    rcs = (src / "rc.txt").read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    stdouts = (src / "stdout.txt").read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    assert len(argvs) == len(rcs) == len(stdouts)
    for i, argv in enumerate(argvs):
        rc, out, err = _run(prefix + argv)
        want_rc, want_err = rcs[i].split("\t", 1)
        assert (rc, err) == (int(want_rc), _decode(want_err)), f"op {i + 1}: {argv}"
        assert out == _decode(stdouts[i]), f"op {i + 1}: {argv}"

    assert _files(savedir) == _files(src / "delta")

    configs = sorted(_files(src / "before"), key=os.fsencode)
    post = []
    show = b""
    for name in configs:
        rc, out, err = _run(prefix + ["show", name])
        show += out
        post.append((f"show {name}", rc, err))
    assert show == (src / "show.txt").read_bytes()

    rc, out, err = _run(prefix + ["changes"])
    post.append(("changes", rc, err))
    assert out == (src / "changes.txt").read_bytes()

    for name in configs:
        rc, out, err = _run(["-c", str(confdir), "-t", str(savedir), "commit", name])
        post.append((f"commit {name}", rc, err))
    assert _files(confdir) == _files(src / "after")
    assert _files(savedir) == _files(src / "delta-after-commit")

    export = b""
    for name in configs:
        rc, out, err = _run(prefix + ["export", name])
        export += out
        post.append((f"export {name}", rc, err))
    assert export == (src / "export.txt").read_bytes()

    want_post = []
    for line in (src / "post.txt").read_text(encoding="utf-8").splitlines():
        label, rc_text, err_text = line.split("\t", 2)
        want_post.append((label, int(rc_text), _decode(err_text)))
    assert post == want_post
