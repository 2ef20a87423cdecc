"""Getting our backups back from peers: restore --from a pushed copy, and disaster recovery.

A backs up; B pulls A's repository, C only receives A's pushes (which C checks and
moves from its inbox into its store). Then A is wiped and recovered from B with the
recovery key alone.
"""

import os
import shutil

import pytest

from tests.support.maildir import copy_corpus
from tests.unit.mesh.conftest import tree_state

from .conftest import PORT, NsNode, pin_each_other

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
    line = a.fails("mesh", "recover", f"{b.addr}:{PORT}", stdin=wrong + "\n")
    assert "holds no copy that this recovery key opens" in line
    assert "no recovery key on stdin" in a.fails("mesh", "recover", f"{b.addr}:{PORT}")
    assert not (a.data / "backup" / "repo").exists()

    done = a.ok("mesh", "recover", f"{b.addr}:{PORT}", stdin=recovery + "\n")
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
    line = a.fails("mesh", "recover", f"{b.addr}:{PORT}", stdin=recovery + "\n")
    assert "already holds a backup repository" in line
