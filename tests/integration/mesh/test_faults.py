"""Faults during transfer: kill -9 mid-pull and mid-push, then rerun; a peer whose disk is full.

A's repository is ~4 packs (8 MiB each, incompressible); transfers are slowed with
--bwlimit so the kill lands after the first pack and before the last.
"""

import contextlib
import hashlib
import os
import random
import re
import signal
import subprocess
import time

import pytest

from tests.integration.mesh.nsworld import NsNode, pin_each_other, sh, storage_files
from tests.support.maildir import copy_corpus
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
NAMED = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def world(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    nodes = {name: NsNode(name, root) for name in ("a", "b", "c", "d")}
    ids = pin_each_other(nodes, [(x, y) for x in "abcd" for y in "abcd" if (x == "a") != (y == "a")])
    a = nodes["a"]
    copy_corpus(a.data, messages=100, seed=3)
    big = a.data / "mail" / "a.example.org" / "attachments"
    big.mkdir(parents=True)
    rng = random.Random(3)
    for i in range(3):
        (big / f"blob{i}").write_bytes(rng.randbytes(8 << 20))  # 8 MiB each, incompressible
    (nodes["d"].data / "backup").mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", str(nodes["d"].data / "backup"))
    for n in nodes.values():
        n.start()
    a.ok("mesh", "key", "export")
    a.ok("mesh", "backup")
    yield nodes, ids
    for n in nodes.values():
        n.stop()
    sh("umount", str(nodes["d"].data / "backup"), check=False)


def landed_packs(store):
    return {rel for rel in storage_files(store) if rel.startswith("data/")}


def settled(store, quiet: float = 1.5, timeout: float = 20.0) -> set[str]:
    """The store's final files once nothing has changed there for `quiet` s."""
    deadline = time.monotonic() + timeout
    seen = set(storage_files(store))
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = set(storage_files(store))
        if now == seen:
            return now
        seen = now
    raise AssertionError(f"{store} still changing after {timeout} s")


def kill_after_first_pack(node, store, *args):
    proc = subprocess.Popen(node.cmd("-m", "secumail.cli", *args), env=node.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while not landed_packs(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return storage_files(store)


def assert_intact(store):
    for rel in storage_files(store):
        name = os.path.basename(rel)
        if NAMED.match(name):
            with open(os.path.join(store, rel), "rb") as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == name, rel


def test_kill_9_during_pull_then_rerun_resends_nothing_that_landed(world):
    nodes, ids = world
    a, b = nodes["a"], nodes["b"]
    store = b.data / "backup" / "peers" / ids["a"]
    total = len(storage_files(a.data / "backup" / "repo")) - 1  # the local lock file is never copied
    landed = kill_after_first_pack(b, store, "mesh", "sync", "pull", "--peer", ids["a"], "--bwlimit", "3072")
    assert 1 <= len([r for r in landed if r.startswith("data/")]) < 4, "kill did not land mid-transfer"
    assert_intact(store)
    rerun = b.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]
    assert rerun["files"] == total - len(landed)  # 0 completed files sent again
    assert {r: storage_files(store)[r] for r in landed} == landed
    assert a.ok("mesh", "verify", "--from", ids["b"])["result"] == "ok"


def test_kill_9_during_push_then_rerun_resends_nothing_that_landed(world):
    nodes, ids = world
    a, c = nodes["a"], nodes["c"]
    store = c.data / "backup" / "peers" / ids["a"]
    total = len(storage_files(a.data / "backup" / "repo")) - 1
    landed = kill_after_first_pack(a, store, "mesh", "sync", "push", "--peer", ids["c"], "--bwlimit", "3072")
    assert 1 <= len([r for r in landed if r.startswith("data/")]) < 4, "kill did not land mid-transfer"
    inbox = c.data / "backup" / "inbox" / ids["a"]
    with contextlib.suppress(AssertionError):  # C notices the cut connection and drops the half-written temp file
        wait_until(lambda: not [f for _, _, fs in os.walk(inbox) for f in fs], timeout=10)
    assert [f for _, _, fs in os.walk(inbox) for f in fs] == []
    assert_intact(store)
    rerun = a.ok("mesh", "sync", "push", "--peer", ids["c"])[0]
    assert rerun["files"] == total - len(landed) and rerun["already"] == 0
    assert a.ok("mesh", "verify", "--from", ids["c"])["result"] == "ok"


def test_disk_full_on_the_peer_one_clear_error_nothing_corrupted(world):
    nodes, ids = world
    a, d = nodes["a"], nodes["d"]
    backup = d.data / "backup"
    store = backup / "peers" / ids["a"]
    line = a.fails("mesh", "sync", "push", "--peer", ids["d"])
    assert "disk is full or our quota there is used up" in line
    line = d.fails("mesh", "sync", "pull", "--peer", ids["a"])
    assert "no space left on this node" in line
    with contextlib.suppress(AssertionError):  # the peer's end of the refused transfer drops its temp files
        wait_until(lambda: not [f for _, _, fs in os.walk(backup) for f in fs if f.startswith(".tmp-")], timeout=10)
    assert_intact(store)
    assert not [f for _, _, fs in os.walk(backup) for f in fs if f.startswith(".tmp-")]
    landed = settled(store)  # the peer's end may still rename a file it had whole when the client gave up
    assert landed_packs(store)
    # a file that arrived whole but could not be moved into the store waits in the inbox: it is there too
    waiting = set(storage_files(backup / "inbox" / ids["a"])) if (backup / "inbox" / ids["a"]).exists() else set()
    sh("mount", "-o", "remount,size=100m", "tmpfs", str(backup))  # space freed
    total = len(storage_files(a.data / "backup" / "repo")) - 1
    rerun = a.ok("mesh", "sync", "push", "--peer", ids["d"])[0]
    assert rerun["files"] == total - len(landed | waiting), (rerun, landed, waiting)  # none sent again
    assert a.ok("mesh", "verify", "--from", ids["d"])["result"] == "ok"
    assert d.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]["files"] == 0


def test_pull_refuses_a_copy_that_does_not_match_its_name(world):
    """The puller hashes each file as it arrives: a changed pack on the peer is named and never lands."""
    nodes, ids = world
    a, b = nodes["a"], nodes["b"]
    store = b.data / "backup" / "peers" / ids["a"]
    pack = sorted(r for r in storage_files(a.data / "backup" / "repo") if r.startswith("data/"))[0]
    os.unlink(store / pack)  # B lacks it, so the next pull fetches it
    source = a.data / "backup" / "repo" / pack
    original = source.read_bytes()
    source.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    try:
        line = b.fails("mesh", "sync", "pull", "--peer", ids["a"])
        assert os.path.basename(pack) in line and "does not match its name" in line
        assert not (store / pack).exists()
        assert not [f for _, _, fs in os.walk(store) for f in fs if f.startswith(".tmp-")]
    finally:
        source.write_bytes(original)
    assert b.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]["files"] == 1
    assert_intact(store)


def _flip(path, offset=100):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 1]))


def test_a_flipped_byte_in_a_peers_copy_is_repaired_by_the_next_sync(world):
    """Push: C's service finds the damaged file in A's copy when A connects, so A sends it again.
    Pull: B finds it in its own copy of A's repository before pulling, and fetches it again."""
    nodes, ids = world
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    a.ok("mesh", "sync", "push", "--peer", ids["c"])
    b.ok("mesh", "sync", "pull", "--peer", ids["a"])
    for holder, sync in ((c, ("push", "--peer", ids["c"])), (b, ("pull", "--peer", ids["a"]))):
        store = holder.data / "backup" / "peers" / ids["a"]
        pack = sorted(r for r in storage_files(store) if r.startswith("data/"))[0]
        good = (store / pack).read_bytes()
        _flip(store / pack)
        runner = a if sync[0] == "push" else holder
        assert runner.ok("mesh", "sync", *sync)[0]["files"] == 1
        assert (store / pack).read_bytes() == good
        assert_intact(store)
        assert a.ok("mesh", "verify", "--from", ids[holder.name])["result"] == "ok"
