"""Getting our backups back from peers: restore --from a pushed copy, and disaster recovery.

A backs up; B pulls A's repository, C only receives A's pushes (which C checks and
moves from its inbox into its store). Then A is wiped and recovered from B with the
recovery key alone.
"""

import json
import os
import random
import re
import shutil

import pytest

from tests.integration.mesh.nsworld import PORT, NsNode, pin_each_other
from tests.support.files import tree_state
from tests.support.maildir import copy_corpus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("recovery")
    nodes = {name: NsNode(name, root) for name in ("a", "b", "c")}
    ids = pin_each_other(nodes, [("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")])
    a = nodes["a"]
    copy_corpus(a.data, messages=200, seed=7)
    (a.data / "config").mkdir()
    (a.data / "config" / "users").write_text("carol@a.example.org:{BLF-CRYPT}$2y$05$carol\n")
    (a.data / "dkim").mkdir()
    (a.data / "dkim" / "mail.private").write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwDKIMA\n-----END PRIVATE KEY-----\n")  # noqa: E501
    (a.data / "ssl").mkdir()
    (a.data / "ssl" / "fullchain.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n")
    os.chmod(a.data / "dkim" / "mail.private", 0o600)
    for n in nodes.values():
        n.start()
    recovery = a.ok("mesh", "key", "export")["recovery_key"]
    a.ok("mesh", "backup")
    yield nodes, ids, recovery
    for n in nodes.values():
        n.stop()


def test_pushed_copy_is_moved_to_the_store_and_restorable_with_restore_from(world, tmp_path):
    nodes, ids, _recovery = world
    a, c = nodes["a"], nodes["c"]
    pushed = a.ok("mesh", "sync", "push", "--peer", ids["c"])[0]
    assert pushed["result"] == "ok" and pushed["files"] >= 5
    store = c.data / "backup" / "peers" / ids["a"]
    inbox = c.data / "backup" / "inbox" / ids["a"]
    for name in ("config", "recovery.pub", "keys/recovery"):
        assert (store / name).is_file(), name
    assert [f for _, _, fs in os.walk(inbox) for f in fs] == []  # everything checked and moved
    assert a.ok("mesh", "sync", "push", "--peer", ids["c"])[0]["files"] == 0  # resumes against the store
    target = tmp_path / "from-c"
    done = a.ok("mesh", "restore", "--from", ids["c"], "--target", str(target))
    assert done["files"] > 200
    assert tree_state(target, skip=("backup", "mesh", "uci")) == tree_state(a.data)
    assert a.ok("mesh", "verify", "--from", ids["c"])["result"] == "ok"
    line = a.fails("mesh", "restore", "--from", "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")
    assert "not a pinned peer" in line


def test_recover_wiped_node_from_b_with_the_recovery_key_alone(world):
    nodes, ids, recovery = world
    a, b = nodes["a"], nodes["b"]
    assert b.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]["result"] == "ok"
    before = tree_state(a.data)
    identity = {n: (a.data / "mesh" / n).read_bytes() for n in ("node.key", "master.key")}
    uci = (a.conf / "mailserver").read_bytes()
    a.stop()
    shutil.rmtree(a.data)
    shutil.rmtree(a.conf)
    a.data.mkdir()
    a.conf.mkdir()
    a.write_config()  # a fresh router: default config pointing at the same data_path

    wrong = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"
    at_b = f"{ids['b']}@{b.addr}:{PORT}"
    line = a.fails("mesh", "recover", at_b, stdin=wrong + "\n")
    assert "holds no copy that this recovery key opens" in line
    assert "no recovery key on stdin" in a.fails("mesh", "recover", at_b)
    # the peer's node id is required, and a host key that does not hash to it is refused before any transfer
    assert "NODE_ID@HOST" in a.fails("mesh", "recover", f"{b.addr}:{PORT}", stdin=recovery + "\n")
    line = a.fails("mesh", "recover", f"{ids['c']}@{b.addr}:{PORT}", stdin=recovery + "\n")
    assert f"presents the key of node {ids['b']}, not the pinned {ids['c']}" in line and "nothing was fetched" in line
    assert not (a.data / "backup" / "repo").exists()
    assert [f for _, _, fs in os.walk(a.data) for f in fs] == []  # nothing fetched, nothing staged

    done = a.ok("mesh", "recover", at_b, stdin=recovery + "\n")
    assert done["node_id"] == ids["a"]
    assert tree_state(a.data) == before  # mail, uidlists, accounts, DKIM key, certificate: byte for byte
    assert {n: (a.data / "mesh" / n).read_bytes() for n in identity} == identity
    assert (a.conf / "mailserver").read_bytes() == uci  # pinned peers and options are back
    assert a.ok("mesh", "id")["node_id"] == ids["a"]
    # the fetched copy is A's repository again: the next backup continues it, nothing new to store
    again = a.ok("mesh", "backup")
    assert again["new_objects"] <= 2  # a tree object at most: only directory mtimes may differ
    assert len(a.ok("mesh", "snapshots")) == 2
    assert a.ok("mesh", "verify")["result"] == "ok"
    line = a.fails("mesh", "recover", at_b, stdin=recovery + "\n")
    assert "already holds a backup repository" in line


def _wipe(node):
    node.stop()
    shutil.rmtree(node.data)
    shutil.rmtree(node.conf)
    node.data.mkdir()
    node.conf.mkdir()
    node.write_config()


def _damage(store, master_key_file, path):
    """Flip a byte inside the first object of file `path` in a copy; returns (object id, pack)."""
    import base64

    from secumail.mesh.repo import Repository
    from secumail.mesh.snapshot import iter_tree

    master = base64.b64decode(open(master_key_file, "rb").read())  # noqa: SIM115
    with Repository(str(store), master) as repo:
        repo.sync_cache()
        _name, body = repo.find_snapshot(None)
        entry = next(e for e in iter_tree(repo.load_object, body["tree"]) if e["p"] == path)
        oid = entry["o"][0]
        pack, offset, length, _type = repo.cache.lookup(bytes.fromhex(oid))
    with open(store / "data" / pack[:2] / pack, "r+b") as handle:
        handle.seek(offset + length // 2)
        byte = handle.read(1)
        handle.seek(offset + length // 2)
        handle.write(bytes([byte[0] ^ 0x01]))
    return oid, pack


def test_damaged_copy_is_named_healed_from_another_copy_and_rollback_warned(world, tmp_path):
    nodes, ids, recovery = world
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    a.start()
    # walked first, 9 MiB that does not compress: the first pack holds its chunks and nothing else,
    # so damaging it costs this one file (not the trees or the node key)
    (a.data / "aaa").mkdir()
    (a.data / "aaa" / "blob").write_bytes(random.Random(5).randbytes(9 << 20))
    a.ok("mesh", "backup")
    assert a.ok("mesh", "sync", "push", "--peer", ids["c"])[0]["result"] == "ok"

    # rollback: C has not seen the newest backup; A remembers a higher head and says so in one line
    a.ok("mesh", "backup")
    proc = a.run("mesh", "restore", "--from", ids["c"], "--target", str(tmp_path / "from-c"))
    assert proc.returncode == 0, proc.stderr
    warning = proc.stderr.strip().splitlines()
    assert len(warning) == 1 and "serves an older copy" in warning[0] and "rolled back or withheld" in warning[0]
    assert a.ok("mesh", "sync", "push", "--peer", ids["c"])[0]["result"] == "ok"
    assert a.run("mesh", "restore", "--from", ids["c"], "--target", str(tmp_path / "c2")).stderr == ""
    assert b.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]["result"] == "ok"

    store_b = b.data / "backup" / "peers" / ids["a"]
    oid, pack = _damage(store_b, a.data / "mesh" / "master.key", "aaa/blob")
    # verify --from names the damaged object and its pack (or, if the peer dropped the damaged
    # pack, an object in it and the missing pack)
    line = a.fails("mesh", "verify", "--from", ids["b"])
    assert re.search(rf"object [0-9a-f]{{64}}\S* .*pack {pack}", line), line
    # restore --from B heals the pack from this node's own repository
    before = tree_state(a.data)
    done = a.ok("mesh", "restore", "--from", ids["b"], "--target", str(tmp_path / "from-b"))
    assert done["lost"] == [] and done["healed"] == {f"data/{pack[:2]}/{pack}": "this node's repository"}
    assert tree_state(tmp_path / "from-b", skip=("backup", "mesh", "uci")) == before

    identity = {n: (a.data / "mesh" / n).read_bytes() for n in ("node.key", "master.key")}
    uci = (a.conf / "mailserver").read_bytes()
    at_b, at_c = f"{ids['b']}@{b.addr}:{PORT}", f"{ids['c']}@{c.addr}:{PORT}"

    # B alone: everything but the damaged file comes back, and that one is named
    _wipe(a)
    proc = a.run("mesh", "recover", at_b, stdin=recovery + "\n")
    assert proc.returncode == 1, proc.stderr
    partial = json.loads(proc.stdout)
    assert len(partial["lost"]) == 1 and partial["lost"][0].startswith("aaa/blob ("), partial["lost"]
    assert partial["repository_kept"] is False and not (a.data / "backup" / "repo").exists()
    expected = dict(before)
    del expected["aaa/blob"]
    assert tree_state(a.data) == expected

    # B, then C: the damaged pack is fetched from C and the recovery is byte for byte
    _wipe(a)
    done = a.ok("mesh", "recover", at_b, at_c, stdin=recovery + "\n")
    assert done["lost"] == [] and "damaged" not in done and done["repository_kept"] is True
    assert done["healed"] == {f"data/{pack[:2]}/{pack}": f"peer {ids['c']}"}
    assert tree_state(a.data) == before
    assert {n: (a.data / "mesh" / n).read_bytes() for n in identity} == identity
    assert (a.conf / "mailserver").read_bytes() == uci
    assert a.ok("mesh", "verify")["result"] == "ok"
    assert a.ok("mesh", "backup")["new_objects"] <= 2

    # C falls behind (it never gets the newest backup): recover asks both and takes B's newer copy
    a.start()
    assert b.ok("mesh", "sync", "pull", "--peer", ids["a"])[0]["result"] == "ok"
    before = tree_state(a.data)
    _wipe(a)
    proc = a.run("mesh", "recover", at_c, at_b, stdin=recovery + "\n")
    assert proc.returncode == 0, proc.stderr
    warning = proc.stderr.strip().splitlines()
    assert len(warning) == 1 and f"peer {ids['c']}" in warning[0] and "older copy than peer" in warning[0]
    assert json.loads(proc.stdout)["peer"] == f"{b.addr}:{PORT}"
    assert tree_state(a.data) == before
