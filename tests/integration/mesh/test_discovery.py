"""Zeroconf discovery across namespaces: found within 5 s, a killed peer down within 30 s,
an unpinned node listed but never synced.

A pins B without an address (discovery supplies it); C is not pinned by A (C pins A, so
C would accept A: that A never connects is A's rule, not C's refusal).
"""

import subprocess
import time

import pytest

from tests.integration.mesh.nsworld import NsNode, pin_each_other

pytestmark = pytest.mark.integration


def wait_for(check, seconds, step=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.fixture(scope="module")
def world(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("discovery")
    nodes = {name: NsNode(name, root) for name in ("a", "b", "c")}
    ids = pin_each_other(nodes, [("b", "a"), ("c", "a")])
    ids = pin_each_other(nodes, [("a", "b")], with_address=False)
    for name in ("b", "c"):
        (nodes[name].data / "config").mkdir()
        (nodes[name].data / "config" / "users").write_text(f"x@{name}.example.org:{{PLAIN}}x\n")
        nodes[name].ok("mesh", "backup")
        nodes[name].start(discovery=True)
    yield nodes, ids
    for n in nodes.values():
        n.stop()


def test_discovery_within_5_s_unpinned_listed_never_synced_killed_peer_down_within_30_s(world):
    nodes, ids = world
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    started = time.monotonic()
    a.start(discovery=True)

    def both_seen():
        rows = {r["node_id"]: r for r in a.ok("mesh", "discovered")}
        return rows if {ids["b"], ids["c"]} <= set(rows) else None

    rows = wait_for(both_seen, 5)
    assert rows, f"not discovered within 5 s: {a.ok('mesh', 'discovered')}"
    assert time.monotonic() - started < 5
    assert rows[ids["b"]]["pinned"] is True and rows[ids["b"]]["address"] == b.addr
    assert rows[ids["c"]]["pinned"] is False and rows[ids["c"]]["address"] == c.addr
    print(f"discovered B and C {time.monotonic() - started:.2f} s after starting A")
    human = subprocess.run(a.cmd("-m", "secumail.cli", "mesh", "discovered"), env=a.env, capture_output=True, text=True)
    line_c = next(line for line in human.stdout.splitlines() if ids["c"] in line)
    assert " NO " in line_c and "never synced" in human.stdout

    # sync uses the discovered address of pinned B; unpinned C is never contacted
    pulled = a.ok("mesh", "sync", "pull")
    assert [(r["node_id"], r["result"]) for r in pulled] == [(ids["b"], "ok")]
    assert (a.data / "backup" / "peers" / ids["b"] / "config").is_file()
    assert not (a.data / "backup" / "peers" / ids["c"]).exists()
    line = a.fails("mesh", "sync", "pull", "--peer", ids["c"])
    assert "not a pinned peer" in line
    assert "authenticated" not in (c.root / "sftpd.log").read_text()  # A never logged in to C

    up = {r["node_id"]: r["up"] for r in a.ok("mesh", "peers")}
    assert up[ids["b"]] is True
    b.kill()  # kill -9 of B's sftpd and discovery: no goodbye packet
    killed = time.monotonic()

    def b_down():
        return {r["node_id"]: r["up"] for r in a.ok("mesh", "peers")}[ids["b"]] is False

    assert wait_for(b_down, 30, step=1), "B not marked down within 30 s"
    assert time.monotonic() - killed < 30
    print(f"B marked down {time.monotonic() - killed:.1f} s after kill -9")
    assert [r for r in a.ok("mesh", "discovered") if r["node_id"] == ids["b"]][0]["up"] is False
