"""Foreign-architecture images: which need qemu, and the binfmt_misc registration (on a stand-in directory)."""

from __future__ import annotations

import os

import pytest

from secumail.container import binfmt
from secumail.errors import ContainerError

DEBIAN_LINE = (r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
               r":\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
               ":{qemu}:{flags}")  # fmt: skip


@pytest.fixture
def system(tmp_path):
    """A binfmt_misc stand-in (its `register` file) and a binfmt.d with Debian's qemu-aarch64 line."""
    proc = tmp_path / "binfmt_misc"
    proc.mkdir()
    (proc / "register").write_text("")
    qemu = tmp_path / "qemu-aarch64-static"
    qemu.write_text("")
    conf = tmp_path / "binfmt.d"
    conf.mkdir()
    (conf / "qemu-aarch64.conf").write_text(
        "# from qemu-user-static\n" + DEBIAN_LINE.format(qemu=qemu, flags="OP") + "\n"
    )
    return {"binfmt_dir": str(proc), "conf_dirs": (str(conf),), "qemu": str(qemu)}


def test_only_other_cpus_need_emulation() -> None:
    assert binfmt.needs_emulation("arm64", "amd64")
    assert binfmt.needs_emulation("armhf", "amd64")
    assert not binfmt.needs_emulation("amd64", "amd64")
    assert not binfmt.needs_emulation("i386", "amd64")
    assert not binfmt.needs_emulation("armhf", "arm64")  # a 64-bit ARM kernel runs 32-bit ARM itself


def test_registers_with_the_fix_binary_flag_when_missing(system) -> None:
    assert (
        binfmt.ensure("arm64", "amd64", binfmt_dir=system["binfmt_dir"], conf_dirs=system["conf_dirs"]) == "registered"
    )
    with open(os.path.join(system["binfmt_dir"], "register")) as handle:
        written = handle.read()
    assert written == DEBIAN_LINE.format(qemu=system["qemu"], flags="OPF")


def test_a_handler_with_the_flag_is_left_alone(system) -> None:
    entry = os.path.join(system["binfmt_dir"], "qemu-aarch64")
    with open(entry, "w") as handle:
        handle.write(f"enabled\ninterpreter {system['qemu']}\nflags: POF\noffset 0\n")
    assert binfmt.ensure("arm64", "amd64", **_dirs(system)) == "present"
    assert os.path.getsize(os.path.join(system["binfmt_dir"], "register")) == 0


def test_a_handler_without_the_flag_is_replaced(system) -> None:
    """Without F the kernel looks for the emulator inside the chroot or container, where it is not."""
    entry = os.path.join(system["binfmt_dir"], "qemu-aarch64")
    with open(entry, "w") as handle:
        handle.write(f"enabled\ninterpreter {system['qemu']}\nflags: OC\noffset 0\n")
    assert binfmt.ensure("arm64", "amd64", **_dirs(system)) == "registered"
    with open(entry) as handle:
        assert handle.read() == "-1"  # removed first: the kernel refuses a second handler of the same name
    with open(os.path.join(system["binfmt_dir"], "register")) as handle:
        assert handle.read().endswith(":OPF")


def test_native_architectures_touch_nothing(system) -> None:
    assert binfmt.ensure("amd64", "amd64", **_dirs(system)) == "native"
    assert binfmt.ensure("i386", "amd64", **_dirs(system)) == "native"
    assert os.path.getsize(os.path.join(system["binfmt_dir"], "register")) == 0


def test_without_qemu_user_static_one_line_says_what_to_install(system, tmp_path) -> None:
    with pytest.raises(
        ContainerError, match=r"no binfmt registration for qemu-aarch64 .*apt-get install qemu-user-static"
    ):
        binfmt.ensure("arm64", "amd64", binfmt_dir=system["binfmt_dir"], conf_dirs=(str(tmp_path / "none"),))
    os.unlink(system["qemu"])
    with pytest.raises(ContainerError, match=r"qemu-aarch64-static missing: install qemu-user-static"):
        binfmt.ensure("arm64", "amd64", **_dirs(system))
    with pytest.raises(ContainerError, match="no qemu emulator known for architecture 'vax'"):
        binfmt.ensure("vax", "amd64", **_dirs(system))


def test_flags_of_a_registered_handler() -> None:
    assert binfmt.handler_flags("enabled\ninterpreter /usr/bin/q\nflags: POCF\noffset 0\n") == "POCF"
    assert binfmt.handler_flags("enabled\ninterpreter /usr/bin/q\noffset 0\n") == ""
    assert binfmt.handler_flags("disabled\nflags: F\n") is None


def test_an_images_architecture_is_read_from_its_binaries(tmp_path) -> None:
    def elf(machine: int) -> str:
        path = tmp_path / f"elf-{machine:x}"
        path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44))
        return str(path)

    assert binfmt.elf_arch(elf(0xB7)) == "arm64"
    assert binfmt.elf_arch(elf(0x28)) == "armhf"
    assert binfmt.elf_arch(elf(0x3E)) == "amd64"
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert binfmt.elf_arch(str(tmp_path / "script")) is None
    assert binfmt.elf_arch(str(tmp_path / "missing")) is None
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/sbin").mkdir(parents=True)
    os.rename(elf(0x3E), rootfs / "usr/sbin/postfix")
    assert binfmt.ensure_for_image(str(rootfs), "amd64") == "native"


def _dirs(system) -> dict:
    return {"binfmt_dir": system["binfmt_dir"], "conf_dirs": system["conf_dirs"]}
