"""Issue 13: a repository that heals after a kill, KDF limits on key slots, symlinks in backup and restore."""

import base64
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time


def _mailctl_env(node):
    return dict(os.environ, SECUMAIL_CONFDIR=str(node.conf), SECUMAIL_SAVEDIR=str(node.root / "save"))


def test_verify_ignores_a_pack_left_half_written_by_kill_9(node):
    node.fill(messages=1500, seed=3)
    proc = subprocess.Popen([sys.executable, "-m", "secumail.cli", "mesh", "backup"], env=_mailctl_env(node),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    data = node.data / "backup" / "repo" / "data"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if glob.glob(str(data / "*" / "*")) and glob.glob(str(data / ".tmp-pack-*")):
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert glob.glob(str(data / ".tmp-pack-*")), "no pack was being written when killed"
    assert glob.glob(str(data / "*" / "*")), "the backup was killed before any pack landed"
    code, out, err = node("mesh", "verify")
    assert code == 0, err
    assert "Traceback" not in err
    done = node.ok("mesh", "backup")
    assert done["files"] >= 1500
    assert glob.glob(str(data / ".tmp-pack-*")) == []  # the next writer deleted the leftover
    assert node.ok("mesh", "verify")["snapshots"] == 1


def _write_snapshot(node, entries):
    """A snapshot signed by the node's own key whose tree is exactly `entries` (file entries: "data")."""
    from secumail.mesh.crypto import TYPE_DATA, TYPE_TREE
    from secumail.mesh.identity import load_or_create
    from secumail.mesh.repo import ObjectWriter, open_own
    from secumail.mesh.snapshot import TreeWriter, encode, make_body

    key = load_or_create(str(node.data))
    with open_own(str(node.data), key.node_id) as repo, repo.lock():
        repo.sync_cache()
        writer = ObjectWriter(repo)
        tree = TreeWriter(lambda data: writer.store(TYPE_TREE, data))
        for entry in entries:
            entry = dict(entry)
            if "data" in entry:
                entry["o"] = [writer.store(TYPE_DATA, entry.pop("data")).hex()]
            tree.add(entry)
        ids = tree.finish()
        writer.flush()
        body = make_body(key, "evil", ids, {"files": 1, "bytes": 1}, None)
        return repo.write("snapshots", encode(repo.cipher, key, body))


def test_restore_refuses_an_entry_below_a_restored_symlink(node, tmp_path):
    outside = tmp_path / "etc"
    outside.mkdir()
    base = {"m": 0o644, "u": os.getuid(), "g": os.getgid(), "mt": 1_700_000_000_000_000_000}
    _write_snapshot(node, [
        dict(base, p="a", t="l", l=str(outside)),
        dict(base, p="a/passwd", t="f", s=5, data=b"evil\n"),
    ])  # fmt: skip
    code, out, err = node("mesh", "restore", "--target", str(tmp_path / "r"))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "below the symlink a" in err
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert os.path.islink(tmp_path / "r" / "a")


def test_backup_does_not_follow_a_symlink_swapped_in_during_the_walk(node, tmp_path, monkeypatch):
    from secumail.mesh import backup as bk

    node.fill(messages=20)
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:SECRET-HASH:19000:0:99999:7:::\n")
    victim = node.data / "config" / "users"
    real_walk = bk.walk

    def swapping_walk(root):
        for rel, full, st in real_walk(root):
            if rel == "config/users":  # seen as a regular file, then swapped before it is read
                os.unlink(full)
                os.symlink(secret, full)
            yield rel, full, st

    monkeypatch.setattr(bk, "walk", swapping_walk)
    node.ok("mesh", "backup")
    monkeypatch.setattr(bk, "walk", real_walk)
    out = tmp_path / "r"
    node.ok("mesh", "restore", "--target", str(out))
    restored = out / "config" / "users"
    assert not restored.exists() or b"SECRET-HASH" not in restored.read_bytes()
    assert os.path.islink(victim)  # the swap really happened


def test_a_key_slot_with_other_scrypt_parameters_is_refused_unopened(node, other, tmp_path, monkeypatch):
    """A peer's copy is untrusted input: its slot must not make us run a 4 GiB scrypt."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from secumail.mesh import crypto, keys

    node.fill(messages=10)
    recovery = node.ok("mesh", "key", "export")["recovery_key"]
    node.ok("mesh", "backup")
    master = base64.b64decode((node.data / "mesh" / "master.key").read_bytes())
    copy = tmp_path / "copy"
    shutil.copytree(node.data / "backup" / "repo", copy)
    secret = keys.parse_secret(recovery)
    real_scrypt = crypto.scrypt

    def crafted(n, r, p):
        salt, nonce = os.urandom(16), os.urandom(12)
        wrap = real_scrypt(secret, salt, n, r, p) if n <= 1 << 16 else os.urandom(32)
        sealed = nonce + ChaCha20Poly1305(wrap).encrypt(nonce, master, crypto.SLOT_AD)
        slot = {"version": 1, "kind": "recovery", "kdf": "scrypt", "n": n, "r": r, "p": p,
                "salt": base64.b64encode(salt).decode(), "data": base64.b64encode(sealed).decode()}  # fmt: skip
        (copy / "keys" / "recovery").write_text(json.dumps(slot))

    calls = []
    monkeypatch.setattr(crypto, "scrypt", lambda *a: calls.append(a[2:]) or real_scrypt(*a))
    for n, r, p in ((1 << 16, 8, 1), (1 << 20, 32, 1)):  # 64 MiB (opens with the right key), 4 GiB
        crafted(n, r, p)
        target = tmp_path / f"r{n}"
        code, out, err = other("mesh", "restore", str(copy), "--target", str(target), "--recovery-key-stdin",
                               stdin=recovery + "\n")  # fmt: skip
        assert code != 0 and len(err.strip().splitlines()) == 1, err
        assert f"scrypt n={n}" in err and "n=32768, r=8, p=1" in err
        assert calls == [] and not target.exists()


def test_backup_writes_a_signed_monotonic_head_and_an_older_copy_warns(node, tmp_path):
    from secumail.mesh import heads

    node.fill(messages=10)
    first = node.ok("mesh", "backup")
    old_copy = tmp_path / "old-copy"
    shutil.copytree(node.data / "backup" / "repo", old_copy)
    second = node.ok("mesh", "backup")
    assert (first["head"], second["head"]) == (1, 2)
    node_id = node.ok("mesh", "id")["node_id"]
    repo = node.data / "backup" / "repo"
    head = heads.latest(str(repo), node_id)
    assert head["seq"] == 2 and head["snapshot"] == second["snapshot"]
    assert len(os.listdir(repo / "heads")) == 1  # older heads are deleted by the next backup
    name = os.listdir(repo / "heads")[0]
    forged = (repo / "heads" / name).read_bytes().replace(b'"seq": 2', b'"seq": 9')
    assert heads.parse(forged, name, node_id) is None  # neither the name nor the signature fits

    code, out, err = node("mesh", "restore", str(old_copy), "--target", str(tmp_path / "r1"))
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "older copy" in lines[0], err
    assert "head 1" in lines[0] and "head 2" in lines[0]
    current = tmp_path / "current"
    shutil.copytree(repo, current)
    code, out, err = node("mesh", "restore", str(current), "--target", str(tmp_path / "r2"))
    assert code == 0 and err == ""
    (repo / "heads" / name).write_bytes(forged)  # verify checks the head too
    code, out, err = node("mesh", "verify")
    assert code == 1 and "no valid head record" in err and len(err.strip().splitlines()) == 1


def test_recover_wants_the_peers_node_id_before_connecting(node):
    code, out, err = node("mesh", "recover", "127.0.0.1:9", stdin="ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567\n")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "NODE_ID@HOST[:PORT]" in err and "cannot reach" not in err
    code, out, err = node("mesh", "recover", "nonsense@127.0.0.1:9", stdin="ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567\n")
    assert code == 2 and "is not a node id" in err
    assert not (node.data / "backup").exists()


def _serve_copy_locally(monkeypatch, store):
    """recover's SSH session replaced by a local copy of `store` (the checks after it are the real ones)."""
    from secumail.mesh import from_peers as rec

    class Session:
        def get_channel(self):
            raise OSError("no channel")

    def fetch(sftp, dest, throttle=None, progress=None, damaged=None):
        shutil.copytree(store, dest, dirs_exist_ok=True)
        return {"files": 1, "bytes": 1}

    monkeypatch.setattr(rec, "connect", lambda host, port, key, expected: Session())
    monkeypatch.setattr(rec, "fetch_copy", fetch)


def test_recover_changes_nothing_until_the_restored_node_key_checks_out(node, other, tmp_path, monkeypatch):
    node.fill(messages=10)
    recovery = node.ok("mesh", "key", "export")["recovery_key"]
    node.ok("mesh", "backup")
    node_id = node.ok("mesh", "id")["node_id"]
    base = {"m": 0o644, "u": os.getuid(), "g": os.getgid(), "mt": 1_700_000_000_000_000_000}
    _write_snapshot(node, [dict(base, p="config", t="d", m=0o755),
                           dict(base, p="config/users", t="f", s=4, data=b"evil")])  # fmt: skip
    _serve_copy_locally(monkeypatch, node.data / "backup" / "repo")
    (other.data / "config").mkdir()
    (other.data / "config" / "users").write_text("fresh\n")
    uci = (other.conf / "mailserver").read_bytes()
    peer = f"{'A' * 32}@192.0.2.1"
    code, out, err = other("mesh", "recover", peer, stdin=recovery + "\n")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "restored node key (none) is not the one that made the backup" in err and node_id in err
    assert (other.data / "config" / "users").read_text() == "fresh\n"  # nothing swapped in
    assert (other.conf / "mailserver").read_bytes() == uci
    assert os.listdir(other.data / "backup") == []  # staging removed, the copy not kept


def test_recover_refuses_a_copy_whose_recovery_pub_names_another_key(node, other, tmp_path, monkeypatch):
    node.fill(messages=10)
    node.ok("mesh", "key", "export")
    node.ok("mesh", "backup")
    store = tmp_path / "store"
    shutil.copytree(node.data / "backup" / "repo", store)
    recovery = node.ok("mesh", "key", "export")["recovery_key"]  # a newer key: the copy names the old one
    _serve_copy_locally(monkeypatch, store)
    code, out, err = other("mesh", "recover", f"{'A' * 32}@192.0.2.1", stdin=recovery + "\n")
    assert code == 1 and "not a repository whose owner signed this recovery key" in err, err
    assert os.listdir(other.data / "backup") == [] and not (other.data / "mail").exists()


def test_verify_names_the_object_and_file_of_a_missing_pack(node):
    node.fill(messages=1500, seed=3)  # several packs: the biggest holds mail only, the trees come last
    node.ok("mesh", "backup")
    packs = sorted(glob.glob(str(node.data / "backup" / "repo" / "data" / "*" / "*")), key=os.path.getsize)
    os.unlink(packs[-1])  # the biggest: mail, not only trees
    name = os.path.basename(packs[-1])
    code, out, err = node("mesh", "verify")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert re.search(rf"object [0-9a-f]{{64}} of \S+ is in pack {name}, which is missing", err), err
