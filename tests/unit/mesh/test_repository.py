"""Backup, restore, dedup, confidentiality and tamper detection of the mesh repository."""

import glob
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from secumail.mesh.identity import normalize_node_id
from tests.support.files import tree_state


def test_node_id_is_stable_grouped_base32(node):
    first = node.ok("mesh", "id")
    assert re.fullmatch(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", first["node_id"])
    assert node.ok("mesh", "id") == first
    assert oct(os.stat(node.data / "mesh" / "node.key").st_mode & 0o777) == "0o600"
    assert normalize_node_id(first["node_id"].lower().replace("-", "")) == first["node_id"]


def test_add_peers_remove_peer(node):
    peer = "mfrg-gzdf-mztw-q2lk-nnwg-23tp-obyx-e3tt"
    pinned = node.ok("mesh", "add-peer", peer, "10.232.0.3:7023")
    assert pinned["node_id"] == peer.upper()
    rows = node.ok("mesh", "peers")
    assert [(r["node_id"], r["address"], r["port"], r["last_sync"]) for r in rows] == [
        (peer.upper(), "10.232.0.3", 7023, "never")
    ]
    assert node.ok("mesh", "remove-peer", peer)["node_id"] == peer.upper()
    assert node.ok("mesh", "peers") == []
    code, out, err = node("mesh", "add-peer", "not-a-node-id")
    assert code == 2 and "is not a node id" in err and len(err.strip().splitlines()) == 1
    code, _, err = node("mesh", "remove-peer", peer)
    assert code == 2 and "is not a pinned peer" in err


def test_round_trip_is_byte_for_byte(node, tmp_path):
    node.fill()
    before = tree_state(node.data)
    result = node.ok("mesh", "backup")
    assert result["files"] >= 120 and result["files_read"] == result["files"]
    out = tmp_path / "restored"
    restored = node.ok("mesh", "restore", "--target", str(out))
    assert restored["snapshot"] == result["snapshot"]
    assert tree_state(out, skip=("backup", "mesh", "uci")) == before
    assert (out / "uci" / "mailserver").read_bytes() == (node.conf / "mailserver").read_bytes()
    assert (out / "mesh" / "node.key").read_bytes() == (node.data / "mesh" / "node.key").read_bytes()


def test_second_backup_and_flag_renames_cost_nothing(node):
    node.fill()
    first = node.ok("mesh", "backup")
    again = node.ok("mesh", "backup")
    assert again["files_read"] == 0
    assert again["new_bytes"] < 0.02 * first["new_bytes"]  # the tree objects only
    renamed = 0
    for path in sorted(glob.glob(str(node.data / "mail" / "**" / "cur" / "*:2,S"), recursive=True))[:20]:
        os.rename(path, path + "F")  # a flag change, as Dovecot does it
        renamed += 1
    assert renamed >= 10
    flagged = node.ok("mesh", "backup")
    assert flagged["files_read"] == 0
    assert flagged["new_objects"] <= 2  # tree objects, no message data


def test_repository_holds_no_plaintext(node):
    node.fill()
    node.ok("mesh", "backup")
    subjects = set()
    for path in glob.glob(str(node.data / "mail" / "**" / "cur" / "*"), recursive=True)[:40]:
        text = Path(path).read_bytes()
        subjects.add(re.search(rb"^Subject: (.{20,60})\r$", text, re.M).group(1))
        subjects.add(text.split(b"\r\n\r\n", 1)[1][:40])
    needles = subjects | {b"Delivered-To", b"alice@example.org", b"BEGIN PRIVATE KEY", b"MIME-Version"}
    repo_bytes = b"".join(
        Path(p).read_bytes() for p in glob.glob(str(node.data / "backup" / "**" / "*"), recursive=True)
        if os.path.isfile(p)
    )
    assert len(repo_bytes) > 100_000
    found = [n for n in needles if n in repo_bytes]
    assert found == []


def test_flipped_byte_is_named_by_verify_and_refused_by_restore(node, tmp_path):
    node.fill()
    node.ok("mesh", "backup")
    assert node.ok("mesh", "verify")["result"] == "ok"
    packs = sorted(glob.glob(str(node.data / "backup" / "repo" / "data" / "*" / "*")), key=os.path.getsize)
    pack = packs[-1]
    with open(pack, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0x01]))
    name = os.path.basename(pack)
    code, out, err = node("mesh", "verify")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"pack {name}" in err and re.search(r"object [0-9a-f]{64} failed authentication", err), err
    code, out, err = node("mesh", "restore", "--target", str(tmp_path / "r"))
    assert code == 1 and "failed authentication" in err and "refusing to restore mail/" in err


def test_export_with_recovery_key_on_a_fresh_node(node, other, tmp_path):
    node.fill()
    key = node.ok("mesh", "key", "export")["recovery_key"]
    assert re.fullmatch(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", key)
    export = tmp_path / "mail.secumail"
    result = node.ok("mesh", "backup", "--file", str(export))
    assert result["export"]["bytes"] > 0 and oct(os.stat(export).st_mode & 0o777) == "0o600"
    wrong = "AAAA-" * 7 + "AAAA"
    code, out, err = other("mesh", "restore", str(export), "--target", str(tmp_path / "x"), "--recovery-key-stdin",
                           stdin=wrong + "\n")  # fmt: skip
    assert code == 2 and "opens no key slot" in err and not (tmp_path / "x").exists()
    code, out, err = other("mesh", "restore", str(export), "--target", str(tmp_path / "x"))
    assert code == 2 and "--recovery-key-stdin" in err
    other.ok("mesh", "restore", str(export), "--target", str(tmp_path / "x"), "--recovery-key-stdin",
             stdin=key + "\n")  # fmt: skip
    assert tree_state(tmp_path / "x", skip=("backup", "mesh", "uci")) == tree_state(node.data)


def test_unknown_format_version_is_refused_first(node):
    node.fill(messages=20)
    node.ok("mesh", "backup")
    config = node.data / "backup" / "repo" / "config"
    text = config.read_text()
    assert '"version": 2' in text
    config.write_text(text.replace('"version": 2', '"version": 9'))
    code, out, err = node("mesh", "snapshots")
    assert code == 1 and "format version 9" in err and "reads version 2" in err
    # a version 1 repository (JSON indexes) is refused with a pointer to the migration note
    config.write_text(text.replace('"version": 2', '"version": 1'))
    code, out, err = node("mesh", "snapshots")
    assert code == 1 and "format version 1" in err and "start a new repository" in err
    assert len(err.strip().splitlines()) == 1


def test_prune_keeps_last_from_uci(node):
    node.fill(messages=20)
    names = [node.ok("mesh", "backup")["snapshot"] for _ in range(4)]
    result = node.ok("mesh", "prune")
    assert sorted(result["kept"]) == sorted(names[-2:])
    assert [s["name"] for s in node.ok("mesh", "snapshots")] == names[-2:]
    assert node.ok("mesh", "verify")["snapshots"] == 2


def test_kill_9_during_backup_then_rerun_completes(node):
    node.fill(messages=1500, seed=3)
    env = dict(os.environ, SECUMAIL_CONFDIR=str(node.conf), SECUMAIL_SAVEDIR=str(node.root / "save"))
    proc = subprocess.Popen([sys.executable, "-m", "secumail.cli", "mesh", "backup"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    packs_dir = node.data / "backup" / "repo" / "data"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(glob.glob(str(packs_dir / "*" / "*"))) < 2:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    landed = len(glob.glob(str(packs_dir / "*" / "*")))
    assert landed >= 2, "the backup finished before it could be killed: make the maildir bigger"
    assert node.ok("mesh", "snapshots") == []
    rerun = node.ok("mesh", "backup")
    # each landed pack holds >= 8 MiB sealed, so >= 8 MiB of plaintext: none of it is stored again
    assert rerun["new_bytes"] <= rerun["bytes"] - landed * 8_000_000 + 500_000
    assert node.ok("mesh", "verify")["result"] == "ok"
