"""Inbox -> store checks, the bandwidth throttle, the liveness probe, the discovered listing."""

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from secumail.mesh.discovery import _update, probe
from secumail.mesh.ingest import ingest, ingest_all
from secumail.mesh.transport import Throttle


def _put(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def test_ingest_moves_only_files_that_check_out(tmp_path):
    inbox, store = str(tmp_path / "inbox"), str(tmp_path / "store")
    good = b"pack bytes"
    name = hashlib.sha256(good).hexdigest()
    _put(inbox, f"data/{name[:2]}/{name}", good)
    _put(inbox, "index/" + "0" * 64, b"does not match its name")
    _put(inbox, "config", json.dumps({"node_id": "OTHER"}).encode())
    slot = b'{"kind": "recovery"}'
    _put(inbox, f"keys/recovery.{hashlib.sha256(slot).hexdigest()}", slot)
    pub = b'{"statement": {}}'
    _put(inbox, f"recovery.pub.{hashlib.sha256(pub).hexdigest()}", pub)  # not signed by the node
    assert ingest_all(inbox, store, "NODE") == 2
    assert Path(store, "data", name[:2], name).read_bytes() == good
    assert Path(store, "keys", "recovery").read_bytes() == slot
    assert not os.path.exists(os.path.join(store, "index"))
    assert not os.path.exists(os.path.join(store, "config"))  # names another node
    assert not os.path.exists(os.path.join(store, "recovery.pub"))
    left = sorted(os.path.relpath(os.path.join(d, f), inbox) for d, _, fs in os.walk(inbox) for f in fs)
    # a file not matching its name is removed: in the inbox it would count as sent and never come again
    assert left == ["config", f"recovery.pub.{hashlib.sha256(pub).hexdigest()}"]
    _put(inbox, "config", json.dumps({"node_id": "NODE"}).encode())
    assert ingest(inbox, store, "config", "NODE") and os.path.exists(os.path.join(store, "config"))


def test_throttle_keeps_under_the_limit():
    throttle = Throttle(512)  # KiB/s
    started = time.monotonic()
    seen = throttle.callback()
    for done in range(0, 256 * 1024 + 1, 32 * 1024):
        seen(done, 256 * 1024)
    assert time.monotonic() - started >= 0.45  # 256 KiB at 512 KiB/s
    Throttle(0).account(10**9)  # no limit: returns at once


def test_probe_wants_an_ssh_banner():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    answers = [b"SSH-2.0-paramiko\r\n", b"HTTP/1.0 200 OK\r\n"]

    def serve():
        for text in answers:
            conn, _ = listener.accept()
            conn.sendall(text)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    assert probe("127.0.0.1", port) is True
    assert probe("127.0.0.1", port) is False
    listener.close()
    assert probe("127.0.0.1", port, timeout=0.5) is False  # nothing listening


def test_discovered_lists_unpinned_ids_in_full(node):
    from secumail.config import load_settings
    from secumail.mesh.discovery import discovered_rows

    pinned = "MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX-E3TT"
    stranger = "ONSW-G4TF-OQ2D-CMJA-MFRG-GZDF-MZTW-Q2LK"
    node.ok("mesh", "add-peer", pinned)
    for node_id in (pinned, stranger):
        _update(str(node.data), node_id, address="10.239.7.40", port=7022, up=True, last_seen=time.time())
    rows = {r["node_id"]: r for r in discovered_rows(load_settings(str(node.conf)))}
    assert rows[pinned]["pinned"] is True and rows[stranger]["pinned"] is False
    code, out, _ = node("mesh", "discovered")
    assert code == 0 and stranger in out and "never synced" in out


def test_discovered_list_is_capped_and_forgets_nodes_not_heard_from(node):
    import base64

    from secumail.config import load_settings
    from secumail.mesh.discovery import EXPIRE, MAX_DISCOVERED, discovered_rows

    def fake_id(i):
        return base64.b32encode(i.to_bytes(20, "big")).decode()[:32]

    now = time.time()
    pinned = "MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX-E3TT"
    node.ok("mesh", "add-peer", pinned)
    _update(str(node.data), pinned, address="10.239.7.40", port=7022, last_seen=now - 60)
    for i in range(200):  # a flood of announcements from the LAN
        _update(str(node.data), fake_id(i), keep={pinned}, address="10.239.7.99", port=7022, last_announced=now)
    rows = discovered_rows(load_settings(str(node.conf)))
    assert len(rows) == MAX_DISCOVERED and pinned in {r["node_id"] for r in rows}
    _update(str(node.data), fake_id(999), keep={pinned}, address="10.239.7.98", last_announced=now - EXPIRE - 60)
    _update(str(node.data), fake_id(1000), create=False, up=True)  # a probe never adds a node
    ids = {r["node_id"] for r in discovered_rows(load_settings(str(node.conf)))}
    assert fake_id(999) not in ids and fake_id(1000) not in ids


def test_scrub_removes_damaged_files_even_when_size_and_mtime_are_unchanged(tmp_path):
    from secumail.mesh.scrub import scrub

    store = str(tmp_path / "store")
    body = b"pack" * 1000
    name = hashlib.sha256(body).hexdigest()
    rel = f"data/{name[:2]}/{name}"
    _put(store, rel, body)
    _put(store, "keys/recovery", b"{}")  # not storage-named: never judged by its name
    assert scrub(store) == [] and scrub(store) == []
    path = os.path.join(store, rel)
    before = os.stat(path)
    with open(path, "r+b") as handle:  # bit rot: same size, same inode, mtime put back
        handle.seek(10)
        handle.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert scrub(store, recheck_budget=0) == []  # looks unchanged: only the re-check budget finds it
    assert scrub(store) == [rel] and not os.path.exists(path)
    assert os.path.exists(os.path.join(store, "keys", "recovery"))
