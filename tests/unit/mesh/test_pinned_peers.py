"""One list of pinned peers: a peer pinned only in mesh.backup_peers (the SecuBox way) is served *and*
synced with, exactly like one pinned by a `config peer` section."""

from __future__ import annotations

import socket
import threading
import time

from secumail.config import load_settings
from secumail.mesh import discovery, sftpd
from secumail.mesh.identity import load_or_create


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pin_in_backup_peers(node, peer_id: str, port: int) -> None:
    with open(node.conf / "mailserver", "a") as handle:
        handle.write(f"\nconfig mesh 'mesh'\n\toption port '{port}'\n\tlist backup_peers '{peer_id}'\n")


def test_a_peer_listed_only_in_backup_peers_is_pushed_to(node, other):
    a_id = load_or_create(str(node.data)).node_id
    b_id = load_or_create(str(other.data)).node_id
    port = _free_port()
    _pin_in_backup_peers(other, a_id, port)  # b serves a, pinned in mesh.backup_peers only
    _pin_in_backup_peers(node, b_id, port)  # and a pins b the same way
    ready = threading.Event()
    threading.Thread(target=sftpd.serve, args=(load_settings(str(other.conf)), ["127.0.0.1"], ready),
                     kwargs={"confdir": str(other.conf)}, daemon=True).start()  # fmt: skip
    assert ready.wait(10)
    # the peer has no address in UCI: discovery saw it on the LAN
    discovery._update(str(node.data), b_id, address="127.0.0.1", port=port, last_seen=time.time())
    node.fill(messages=5)
    node.ok("mesh", "backup")

    rows = node.ok("mesh", "sync", "push")

    assert [(r["node_id"], r["result"]) for r in rows] == [(b_id, "ok")]
    stored = other.data / "backup" / "peers" / a_id
    assert (stored / "config").is_file()
    assert any((stored / "snapshots").iterdir())


def test_every_part_of_the_mesh_sees_the_same_pinned_peers(node):
    from secumail.mesh.discovery import pinned_addresses
    from secumail.mesh.identity import pinned_ids
    from secumail.mesh.state import peer_rows

    listed, sectioned = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", "2222-3333-4444-5555-6666-7777-AAAA-BBBB"
    with open(node.conf / "mailserver", "a") as handle:
        handle.write(f"\nconfig mesh 'mesh'\n\tlist backup_peers '{listed.lower()}'\n"
                     f"\nconfig peer 'far'\n\toption node_id '{sectioned}'\n\toption address '192.0.2.7'\n")
    settings = load_settings(str(node.conf))
    assert [(p.name, p.node_id, p.address, p.port) for p in settings.pinned_peers] == [
        ("far", sectioned, "192.0.2.7", 7022),
        ("", listed, "", 7022),
    ]
    assert pinned_ids(settings) == {listed, sectioned}
    assert pinned_addresses(settings) == {sectioned: ("192.0.2.7", 7022), listed: ("", 7022)}
    assert [r["node_id"] for r in peer_rows(settings)] == [sectioned, listed]


def test_a_pin_with_a_bad_address_is_refused_and_nothing_is_saved(node):
    peer = "MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX-E3TT"
    before = (node.conf / "mailserver").read_text()
    code, out, err = node("mesh", "add-peer", peer, "bad_host!:7023")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "is not an IP address or a host name" in err and "nothing was saved" in err
    assert (node.conf / "mailserver").read_text() == before
    assert node.ok("mesh", "peers") == []


def test_unpinning_a_peer_pinned_both_ways_removes_both(node):
    peer = "MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX-E3TT"
    with open(node.conf / "mailserver", "a") as handle:
        handle.write(f"\nconfig mesh 'mesh'\n\tlist backup_peers '{peer.lower()}'\n")
    node.ok("mesh", "add-peer", peer, "10.232.0.3")
    assert [r["name"] for r in node.ok("mesh", "peers")] == ["peer_mfrggzdfmztwq2lk"]
    assert node.ok("mesh", "remove-peer", peer)["removed"] == ["peer_mfrggzdfmztwq2lk"]
    assert node.ok("mesh", "peers") == []
    assert "backup_peers" not in (node.conf / "mailserver").read_text()
