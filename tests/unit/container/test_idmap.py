"""The id map: root's range from /etc/subuid|subgid, the LXC lines, shifting owners once and idempotently."""

from __future__ import annotations

import os
import stat

import pytest

from secumail.container import idmap
from secumail.container.idmap import IdMap
from secumail.errors import ContainerError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def test_root_range_is_taken_from_subuid_and_subgid(tmp_path):
    (tmp_path / "subuid").write_text("alice:100000:65536\nroot:231072:65536\n")
    (tmp_path / "subgid").write_text("root:300000:65536\n")
    got = idmap.for_root(str(tmp_path / "subuid"), str(tmp_path / "subgid"))
    assert got == IdMap(231072, 300000)
    assert got.lxc_lines() == ["lxc.idmap = u 0 231072 65536", "lxc.idmap = g 0 300000 65536"]


def test_missing_range_gets_the_default_and_is_recorded_past_other_users(tmp_path):
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("alice:100000:65536")  # no newline at the end
    got = idmap.for_root(str(subuid), str(subgid))
    assert got.uid_base == 196608 and got.gid_base == idmap.DEFAULT_BASE  # next free 64 Ki slot
    assert subuid.read_text() == "alice:100000:65536\nroot:196608:65536\n"
    assert subgid.read_text() == "root:100000:65536\n"
    assert idmap.for_root(str(subuid), str(subgid)) == got  # found again, not appended twice
    assert subgid.read_text().count("root:") == 1


def test_a_base_below_the_size_is_refused():
    with pytest.raises(ContainerError, match="at least 65536"):
        IdMap(1000, 100000)
    assert IdMap.from_key(IdMap(100000, 200000).key) == IdMap(100000, 200000)
    assert IdMap.from_key("garbage") is None


@needs_root
def test_shift_moves_inner_ids_keeps_setgid_skips_symlink_targets_and_is_idempotent(tmp_path):
    root = tmp_path / "rootfs"
    (root / "usr/sbin").mkdir(parents=True)
    tool = root / "usr/sbin/postdrop"
    tool.write_text("x")
    os.chown(tool, 0, 104)
    os.chmod(tool, 0o2555)  # noqa: S103 - the setgid tool of the image (postdrop)
    outside = tmp_path / "outside"
    outside.write_text("host file")
    (root / "link").symlink_to(outside)
    (root / "high").write_text("")
    os.chown(root / "high", 70000, 70000)  # in no map: left alone
    mapping = IdMap(100000, 200000)
    assert idmap.shift_tree(str(root), mapping) == 5
    st = os.stat(tool)
    assert (st.st_uid, st.st_gid) == (100000, 200104) and stat.S_IMODE(st.st_mode) == 0o2555
    assert os.lstat(root / "link").st_uid == 100000 and os.stat(outside).st_uid == 0
    assert os.stat(root / "high").st_uid == 70000
    assert idmap.shift_tree(str(root), mapping) == 0
    # a new map: ids of the old one move over
    again = IdMap(300000, 300000)
    idmap.shift_tree(str(root), again, mapping)
    assert (os.stat(tool).st_uid, os.stat(tool).st_gid) == (300000, 300104)


@needs_root
def test_ensure_rootfs_walks_once_and_records_the_map(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_text("root:x:0:\ndovecot:x:112:\n")
    mapping = IdMap(100000, 100000)
    assert idmap.ensure_rootfs(str(root), mapping) == 3
    assert idmap.rootfs_map(str(root)) == mapping
    os.chown(root / "etc" / "group", 0, 0)  # not looked at again: the marker says it is done
    assert idmap.ensure_rootfs(str(root), mapping) == 0
    assert idmap.image_id(str(root), "dovecot") == 112 and idmap.image_id(str(root), "nope") is None
