"""A hostile pinned peer cannot make `mailctl mesh sync pull` write outside our copy of its
repository, outside the repository layout, or beyond mesh.peer_quota (docs/backup-format.md 12)."""

import hashlib
import os
import time

import pytest

from secumail.mesh.identity import load_or_create

from .hostile import HostilePeer, entry


@pytest.fixture
def hostile(node, tmp_path):
    key = load_or_create(str(tmp_path / "hostile"))
    peer = HostilePeer(key.paramiko_key())
    node.ok("mesh", "add-peer", key.node_id, f"127.0.0.1:{peer.port}")
    peer.node_id = key.node_id
    yield peer
    peer.close()


def _written(root):
    """Every file and symlink under root (relative), apart from dot files."""
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, dirs, fs in os.walk(root)
        for f in fs + [x for x in dirs if os.path.islink(os.path.join(d, x))]
        if not f.startswith(".")
    )


def _store(node, peer):
    return node.data / "backup" / "peers" / peer.node_id


def _refused(node, *args):
    code, out, err = node(*args)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, (code, out, err)
    return lines[0]


def _crafted(tmp_path, case):
    outside = str(tmp_path / f"outside-{case}")
    return {
        "absolute": {"/repo": [entry(outside)]},
        "dotdot-dir": {"/repo": [entry("../..", "d")], "/repo/../..": [entry(f"outside-{case}")]},
        "a/../../x": {"/repo": [entry(f"a/../../outside-{case}")]},
        "slash": {"/repo": [entry("keys", "d")], "/repo/keys": [entry(f"sub/outside-{case}")]},
        "symlink": {"/repo": [entry("config", "l"), entry("data", "d")], "/repo/data": [entry("ab", "l")]},
        "not-layout": {"/repo": [entry(f"outside-{case}")]},
    }[case]


@pytest.mark.parametrize("case", ["absolute", "dotdot-dir", "a/../../x", "slash", "symlink", "not-layout"])
def test_pull_refuses_names_outside_the_repository_layout(node, hostile, tmp_path, case):
    hostile.listing = _crafted(tmp_path, case)
    line = _refused(node, "mesh", "sync", "pull")
    assert "the peer lists" in line and "nothing pulled" in line
    assert not [p for p in _written(tmp_path) if "outside-" in p]
    assert _written(_store(node, hostile)) == []


def test_pull_does_not_write_through_a_symlink_in_our_copy(node, hostile, tmp_path):
    body = b"a pack"
    name = hashlib.sha256(body).hexdigest()
    store = _store(node, hostile)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (store / "data").mkdir(parents=True)
    os.symlink(elsewhere, store / "data" / name[:2])
    hostile.listing = {"/repo": [entry("data", "d")], "/repo/data": [entry(name[:2], "d")],
                       f"/repo/data/{name[:2]}": [entry(name, size=len(body))]}  # fmt: skip
    hostile.contents = {f"/repo/data/{name[:2]}/{name}": body}
    line = _refused(node, "mesh", "sync", "pull")
    assert "nothing written" in line
    assert os.listdir(elsewhere) == []


def test_a_hundred_thousand_empty_files_stop_at_the_quota_with_one_line(node, hostile):
    with open(node.conf / "mailserver", "a") as handle:
        handle.write("\nconfig mesh 'mesh'\n\toption peer_quota '16'\n")  # 16 MiB: 4096 files of 4 KiB
    hostile.listing = {"/repo": [entry("keys", "d")],
                       "/repo/keys": [entry(f"s{i:06d}", size=0) for i in range(100_000)]}  # fmt: skip
    started = time.monotonic()
    line = _refused(node, "mesh", "sync", "pull")
    assert time.monotonic() - started < 30
    assert "mesh.peer_quota" in line and "nothing pulled" in line
    assert _written(_store(node, hostile)) == []


def test_a_good_copy_still_lands_and_a_damaged_local_copy_is_fetched_again(node, hostile):
    body = b"a pack" * 100
    name = hashlib.sha256(body).hexdigest()
    rel = f"data/{name[:2]}/{name}"
    head = b'{"head": {}}'
    head_name = hashlib.sha256(head).hexdigest()
    hostile.listing = {"/repo": [entry("data", "d"), entry("heads", "d"), entry("config", size=2)],
                       "/repo/data": [entry(name[:2], "d")], "/repo/heads": [entry(head_name, size=len(head))],
                       f"/repo/data/{name[:2]}": [entry(name, size=len(body))]}  # fmt: skip
    hostile.contents = {f"/repo/{rel}": body, "/repo/config": b"{}", f"/repo/heads/{head_name}": head}
    assert node.ok("mesh", "sync", "pull")[0]["files"] == 3
    store = _store(node, hostile)
    assert (store / rel).read_bytes() == body and (store / "config").read_bytes() == b"{}"
    assert node.ok("mesh", "sync", "pull")[0]["files"] == 0
    damaged = bytearray(body)
    damaged[7] ^= 1
    (store / rel).write_bytes(bytes(damaged))  # same size: a size check alone never notices
    assert node.ok("mesh", "sync", "pull")[0]["files"] == 1
    assert (store / rel).read_bytes() == body
