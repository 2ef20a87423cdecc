"""The image cache builds once per key and unpacks from the tarball afterwards."""

from __future__ import annotations

import os

import pytest

from secumail.container import cache
from secumail.errors import ContainerError


def test_key_is_stable_and_order_free() -> None:
    a = cache.image_key("debian", "bookworm", "amd64", ["postfix", "dovecot-imapd"], "r1")
    b = cache.image_key("debian", "bookworm", "amd64", ["dovecot-imapd", "postfix", "postfix"], "r1")
    assert a == b and len(a) == 16
    assert a != cache.image_key("debian", "bookworm", "arm64", ["postfix", "dovecot-imapd"], "r1")
    assert a != cache.image_key("debian", "bookworm", "amd64", ["postfix"], "r1")
    assert a != cache.image_key("debian", "bookworm", "amd64", ["postfix", "dovecot-imapd"], "r2")


def test_builds_once_then_reuses(tmp_path) -> None:
    calls: list[str] = []

    def build(target: str) -> None:
        calls.append(target)
        os.makedirs(os.path.join(target, "usr/sbin"))
        with open(os.path.join(target, "usr/sbin/postfix"), "w") as handle:
            handle.write("#!/bin/sh\n")

    c = cache.ImageCache(str(tmp_path / "cache"))
    assert c.lookup("k1") is None
    lines: list[str] = []
    c.materialize("k1", build, str(tmp_path / "one"), progress=lines.append)
    c.materialize("k1", build, str(tmp_path / "two"))
    assert len(calls) == 1
    assert (tmp_path / "two" / "usr/sbin/postfix").exists()
    assert c.lookup("k1")
    assert any("building" in line for line in lines)
    # the build dir is gone, only the tarball and the lock remain
    left = sorted(os.listdir(tmp_path / "cache"))
    assert [f for f in left if f.startswith(".build")] == []


def test_failed_build_leaves_nothing(tmp_path) -> None:
    def build(target: str) -> None:
        os.makedirs(target)
        raise ContainerError("debootstrap failed: boom")

    c = cache.ImageCache(str(tmp_path / "cache"))
    with pytest.raises(ContainerError, match="boom"):
        c.ensure("k2", build)
    assert c.lookup("k2") is None
    assert [f for f in os.listdir(tmp_path / "cache") if not f.startswith(".lock-")] == []


def test_relative_cache_dir_refused() -> None:
    with pytest.raises(ContainerError, match="absolute"):
        cache.ImageCache("relative/cache")
