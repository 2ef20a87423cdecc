"""Directories the container's root walks through get 0755 even under secumaild's umask 077 (rpcd's)."""

from __future__ import annotations

import os

from secumail.system.files import make_walkable_dirs


def test_new_directories_and_their_new_parents_are_walkable_under_umask_077(tmp_path):
    old = os.umask(0o077)
    try:
        make_walkable_dirs(str(tmp_path / "lxc" / "smwiz"))
    finally:
        os.umask(old)
    assert (tmp_path / "lxc").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "lxc" / "smwiz").stat().st_mode & 0o777 == 0o755


def test_a_directory_that_was_there_keeps_its_mode(tmp_path):
    there = tmp_path / "data"
    there.mkdir(mode=0o750)
    there.chmod(0o750)
    make_walkable_dirs(str(there / "spool"))
    assert there.stat().st_mode & 0o777 == 0o750
    assert (there / "spool").stat().st_mode & 0o777 == 0o755


def test_a_start_repairs_a_mount_parent_left_0700_by_an_earlier_start(tmp_path):
    from secumail.appliance.lifecycle import _repair_mount_parent

    parent = tmp_path / "srv" / "mailserver"
    parent.mkdir(parents=True, mode=0o700)
    parent.chmod(0o700)
    _repair_mount_parent(str(tmp_path))
    assert parent.stat().st_mode & 0o777 == 0o755
    _repair_mount_parent(str(tmp_path / "no-image"))  # nothing there yet: nothing to do
