"""A pinned peer that was wiped, or put back to an older state, serves an older head than we pulled
before (or none): `mesh sync pull` then keeps our copy of its repository whole, says so in one line,
and follows deletions again once the peer serves a head as new as the one we have seen."""

import hashlib

import pytest

from secumail.mesh import heads
from secumail.mesh.identity import load_or_create

from .hostile import HostilePeer, entry


@pytest.fixture
def peer(node, tmp_path):
    key = load_or_create(str(tmp_path / "peer"))
    served = HostilePeer(key.paramiko_key())
    node.ok("mesh", "add-peer", key.node_id, f"127.0.0.1:{served.port}")
    served.key = key
    yield served
    served.close()


def _serve(peer: HostilePeer, files: dict[str, bytes]) -> None:
    """The peer's /repo holds exactly `files` (path in the repository → bytes)."""
    listing: dict[str, list] = {"/repo": []}
    for rel, body in files.items():
        *parts, base = rel.split("/")
        parent = "/repo"
        for part in parts:
            child = f"{parent}/{part}"
            if child not in listing:
                listing[child] = []
                listing[parent].append(entry(part, "d"))
            parent = child
        listing[parent].append(entry(base, size=len(body)))
    peer.listing = listing
    peer.contents = {f"/repo/{rel}": body for rel, body in files.items()}


def _pack(text: str) -> tuple[str, bytes]:
    body = text.encode()
    name = hashlib.sha256(body).hexdigest()
    return f"data/{name[:2]}/{name}", body


def _head(peer: HostilePeer, seq: int) -> tuple[str, bytes]:
    raw = heads.make(peer.key, seq, hashlib.sha256(f"snapshot {seq}".encode()).hexdigest())
    return f"heads/{hashlib.sha256(raw).hexdigest()}", raw


def _copy(node, peer) -> set[str]:
    store = node.data / "backup" / "peers" / peer.key.node_id
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _pull(node) -> tuple[dict, str]:
    code, out, err = node("--json", "mesh", "sync", "pull")
    assert code == 0 and "Traceback" not in err, (code, out, err)
    import json

    return json.loads(out)[0], err


def test_a_peer_serving_an_older_head_or_none_deletes_nothing_of_our_copy(node, peer):
    config = ("config", b'{"version": 2}')
    one, two, three = _pack("pack one"), _pack("pack two"), _pack("pack three")
    head2 = _head(peer, 2)
    _serve(peer, dict([config, one, two, head2]))
    row, err = _pull(node)
    assert row["result"] == "ok" and "warning" not in row and not err.strip(), (row, err)
    assert _copy(node, peer) == {"config", one[0], two[0], head2[0]}
    assert heads.seen(str(node.data), peer.key.node_id)["seq"] == 2  # sync pull records the head

    # put back to an older state: head 1, pack two gone
    head1 = _head(peer, 1)
    _serve(peer, dict([config, one, head1]))
    row, err = _pull(node)
    assert "serves head 1" in row["warning"] and "older than head 2" in row["warning"], row
    assert row["deleted"] == 0 and len(err.strip().splitlines()) == 1 and "older than head 2" in err, err
    assert _copy(node, peer) >= {one[0], two[0], head2[0]}  # pack two and the newer head are kept
    assert heads.seen(str(node.data), peer.key.node_id)["seq"] == 2

    # wiped: no head at all, nothing but its config
    _serve(peer, dict([config]))
    row, _err = _pull(node)
    assert "serves no head record" in row["warning"] and row["deleted"] == 0, row
    assert _copy(node, peer) >= {one[0], two[0], head2[0]}

    # a newer head again: what it no longer lists goes, as before
    head3 = _head(peer, 3)
    _serve(peer, dict([config, one, three, head3]))
    row, err = _pull(node)
    assert "warning" not in row and not err.strip(), (row, err)
    assert _copy(node, peer) == {"config", one[0], three[0], head3[0]}
    assert heads.seen(str(node.data), peer.key.node_id)["seq"] == 3


def test_a_head_signed_by_another_key_does_not_count(node, peer, tmp_path):
    """Only a head the peer's own node key signed moves what we remember (a forged one is no head)."""
    config = ("config", b'{"version": 2}')
    one, two = _pack("pack one"), _pack("pack two")
    _serve(peer, dict([config, one, two, _head(peer, 5)]))
    _pull(node)
    forger = load_or_create(str(tmp_path / "forger"))
    raw = heads.make(forger, 9, "b" * 64)
    _serve(peer, dict([config, one, (f"heads/{hashlib.sha256(raw).hexdigest()}", raw)]))
    row, _err = _pull(node)
    assert "serves no head record" in row["warning"] and two[0] in _copy(node, peer), row
    assert heads.seen(str(node.data), peer.key.node_id)["seq"] == 5
