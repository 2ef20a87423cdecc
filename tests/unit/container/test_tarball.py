"""Image tarballs: round trip, and refusal of archives that write outside the target."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from secumail.container.provision import tarball
from secumail.errors import ContainerError


def make_tree(root) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("mail\n")
    (root / "usr" / "sbin").mkdir(parents=True)
    tool = root / "usr" / "sbin" / "postdrop"
    tool.write_bytes(b"\x7fELF fake")
    os.chmod(tool, 0o2555)  # noqa: S103 (setgid must survive the round trip)
    os.link(tool, root / "usr" / "sbin" / "postdrop-hardlink")
    os.symlink("/etc/hostname", root / "etc" / "abs-link")
    os.symlink("../etc", root / "usr" / "etc-rel")
    os.mkfifo(root / "fifo")
    (root / "empty").mkdir()


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst"])
def test_round_trip(tmp_path, suffix: str) -> None:
    if suffix == ".tar.zst" and not tarball.which("zstd"):
        pytest.skip("zstd not installed")
    src = tmp_path / "src"
    make_tree(src)
    out = tarball.export_image(str(src), str(tmp_path / f"img{suffix}"))
    dest = tmp_path / "dest"
    tarball.import_image(out, str(dest))
    assert (dest / "etc" / "hostname").read_text() == "mail\n"
    assert stat.S_IMODE(os.stat(dest / "usr" / "sbin" / "postdrop").st_mode) == 0o2555
    assert os.stat(dest / "usr/sbin/postdrop").st_ino == os.stat(dest / "usr/sbin/postdrop-hardlink").st_ino
    assert os.readlink(dest / "etc" / "abs-link") == "/etc/hostname"
    assert os.readlink(dest / "usr" / "etc-rel") == "../etc"
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert (dest / "empty").is_dir()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp files left


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes and ownership need root")
def test_round_trip_devices_and_owners(tmp_path) -> None:
    src = tmp_path / "src"
    (src / "dev").mkdir(parents=True)
    os.mknod(src / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (src / "owned").write_text("x")
    os.chown(src / "owned", 123, 456)
    out = tarball.export_image(str(src), str(tmp_path / "img.tar.gz"))
    dest = tmp_path / "dest"
    tarball.import_image(out, str(dest))
    st = os.lstat(dest / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert (os.stat(dest / "owned").st_uid, os.stat(dest / "owned").st_gid) == (123, 456)


def evil(tmp_path, build) -> str:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return str(path)


def add_file(tar, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar, name: str, target: str, kind=tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda t: add_file(t, "/etc/passwd"), "unsafe path"),
        (lambda t: add_file(t, "../outside"), "unsafe path"),
        (lambda t: add_file(t, "./a/../../outside"), "unsafe path"),
        (lambda t: (add_link(t, "etc", "/etc"), add_file(t, "etc/passwd")), "below a symlink"),
        (lambda t: (add_link(t, "d", "../../"), add_file(t, "./d/x")), "below a symlink"),
        (lambda t: add_link(t, "h", "/etc/shadow", tarfile.LNKTYPE), "hard link"),
        (lambda t: add_link(t, "h", "../x", tarfile.LNKTYPE), "hard link"),
        (lambda t: add_link(t, "h", "notyet", tarfile.LNKTYPE), "hard link"),
        (lambda t: (add_link(t, "s", "/etc/shadow"), add_link(t, "h", "s", tarfile.LNKTYPE)), "hard link"),
        (lambda t: (add_link(t, "x", "/etc/passwd"), add_file(t, "x")), "duplicate"),
    ],
)
def test_unsafe_archives_refused(tmp_path, build, needle: str) -> None:
    path = evil(tmp_path, build)
    dest = tmp_path / "dest"
    with pytest.raises(ContainerError, match=needle):
        tarball.import_image(path, str(dest))
    assert not dest.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_unsupported_member_type(tmp_path) -> None:
    def build(t) -> None:
        info = tarfile.TarInfo("contig")
        info.type = tarfile.CONTTYPE
        t.addfile(info, io.BytesIO(b""))

    with pytest.raises(ContainerError, match="unsupported|unsafe"):
        tarball.import_image(evil(tmp_path, build), str(tmp_path / "dest"))


def test_import_refuses_non_empty_target(tmp_path) -> None:
    path = evil(tmp_path, lambda t: add_file(t, "ok"))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "something").write_text("keep me")
    with pytest.raises(ContainerError, match="not empty"):
        tarball.import_image(path, str(dest))
    assert (dest / "something").read_text() == "keep me"


def test_import_into_existing_empty_dir_and_missing_tarball(tmp_path) -> None:
    path = evil(tmp_path, lambda t: add_file(t, "./ok", b"fine"))
    dest = tmp_path / "dest"
    dest.mkdir()
    tarball.import_image(path, str(dest))
    assert (dest / "ok").read_bytes() == b"fine"
    with pytest.raises(ContainerError, match="not found"):
        tarball.import_image(str(tmp_path / "nope.tar.gz"), str(tmp_path / "d2"))


def test_export_rejects_unknown_suffix(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(ContainerError, match="must end in"):
        tarball.export_image(str(tmp_path / "src"), str(tmp_path / "img.tar.bz2"))
