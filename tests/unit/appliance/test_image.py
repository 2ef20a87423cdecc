"""An image built by an older agent that lacks what this one configures is replaced at install."""

from __future__ import annotations

import os

from secumail.appliance import image
from secumail.container.provision import debian
from tests.support.settings import make_settings


def _status(rootfs, packages):
    path = os.path.join(rootfs, "var", "lib", "dpkg")
    os.makedirs(path, exist_ok=True)
    stanzas = [f"Package: {name}\nStatus: install ok installed\nVersion: 1\n" for name in packages]
    stanzas.append("Package: rspamd\nStatus: deinstall ok config-files\n")  # removed: not there
    with open(os.path.join(path, "status"), "w") as fh:
        fh.write("\n".join(stanzas))


def test_missing_packages_reads_the_images_dpkg_status(tmp_path):
    _status(tmp_path, [p for p in debian.PACKAGES if p not in ("rspamd", "redis-server")])
    assert debian.missing_packages(str(tmp_path)) == ["rspamd", "redis-server"]
    assert debian.missing_packages(str(tmp_path / "nothing")) == list(debian.PACKAGES)


class _Stopped:
    def exists(self):
        return True

    def running(self):
        return False


def test_an_outdated_image_is_set_aside_and_a_current_one_made(tmp_path, monkeypatch):
    s = make_settings(tmp_path, container={"lxc_path": str(tmp_path / "lxc")})
    rootfs = image.rootfs_path(s)
    os.makedirs(os.path.join(rootfs, "usr", "sbin"))
    open(os.path.join(rootfs, "usr", "sbin", "postfix"), "w").close()
    _status(rootfs, ["postfix", "dovecot-imapd"])
    built = []

    def fake_build(cache_dir, target, **kwargs):
        built.append(target)
        os.makedirs(os.path.join(target, "usr", "sbin"))
        open(os.path.join(target, "usr", "sbin", "postfix"), "w").close()
        _status(target, debian.PACKAGES)

    from secumail.container import cache

    monkeypatch.setattr(cache, "debian_image", fake_build)
    monkeypatch.setattr(image, "container_for", lambda settings: _Stopped())
    monkeypatch.setattr(image.idmap_mod, "ensure_rootfs", lambda rootfs, idmap: False)
    monkeypatch.setattr(image, "install_hooks", lambda rootfs, idmap=None: None)
    lines = []
    assert image.ensure_image(s, lines.append, idmap=object()) == "made"
    assert built == [rootfs] and debian.missing_packages(rootfs) == []
    assert os.path.exists(os.path.join(rootfs + ".old", "usr", "sbin", "postfix"))  # kept aside, not lost
    assert any("lacks" in line and "rspamd" in line and "data_path" in line for line in lines), lines
    # and a current image is left alone
    assert image.ensure_image(s, lines.append, idmap=object()) == "present"


def test_image_build_writes_the_cached_image_for_the_asked_architecture(tmp_path, monkeypatch):
    """`mailctl image build` on a PC: the cache's tarball for container.arch (or --arch), nothing installed."""
    import tarfile

    from secumail.container import cache

    cached = tmp_path / "cache" / "key.tar.gz"
    cached.parent.mkdir()
    with tarfile.open(cached, "w:gz") as tar:
        tar.add(__file__, arcname="./usr/sbin/postfix")
    asked = []

    def tarball(cache_dir, *, suite, arch, mirror, progress):
        asked.append((suite, arch))
        return "key", str(cached)

    monkeypatch.setattr(cache, "debian_tarball", tarball)
    monkeypatch.setenv("SECUMAIL_IMAGE_CACHE", str(tmp_path / "cache"))
    s = make_settings(tmp_path, container={"arch": "arm64"})
    out = image.image_build(s, str(tmp_path / "router.tar.gz"))
    assert out == {"result": "ok", "file": str(tmp_path / "router.tar.gz"), "arch": "arm64",
                   "bytes": cached.stat().st_size}  # fmt: skip
    assert (tmp_path / "router.tar.gz").read_bytes() == cached.read_bytes()
    assert image.image_build(s, str(tmp_path / "armhf.tar.gz"), arch="armhf")["arch"] == "armhf"
    assert asked == [("bookworm", "arm64"), ("bookworm", "armhf")]


def test_image_build_refuses_bad_input_before_building(tmp_path, monkeypatch):
    import pytest

    from secumail.container import cache
    from secumail.errors import InputError

    monkeypatch.setattr(cache, "debian_tarball", lambda *a, **k: pytest.fail("built despite bad input"))
    s = make_settings(tmp_path)
    with pytest.raises(InputError, match="unknown architecture 'vax'"):
        image.image_build(s, str(tmp_path / "x.tar.gz"), arch="vax")
    with pytest.raises(InputError, match=r"must end in \.tar\.zst or \.tar\.gz"):
        image.image_build(s, str(tmp_path / "x.tar.xz"), arch="arm64")
    with pytest.raises(InputError, match="no such directory"):
        image.image_build(s, str(tmp_path / "missing" / "x.tar.gz"), arch="arm64")
