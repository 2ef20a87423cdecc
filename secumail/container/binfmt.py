"""Run another architecture's binaries on this machine: qemu-user-static through binfmt_misc.

An arm64 image is built on an x86 PC (debootstrap's second stage runs arm64 binaries) and an
arm64 container can even run there, for tests. Both need the kernel to hand foreign ELF files
to qemu. The handler must carry the F (fix-binary) flag: the kernel then opens the emulator
once, at registration, so it also works inside a chroot or a container whose rootfs has no
/usr/bin/qemu-*-static. Debian's qemu-user-static ships its registration in
/usr/lib/binfmt.d/qemu-<cpu>.conf (flags include F); systemd-binfmt loads it at boot, and on a
machine without systemd (a router, a CI container) ensure() writes it to the kernel itself,
mounting binfmt_misc first when it is not mounted.
"""

from __future__ import annotations

import os

from secumail.errors import ContainerError
from secumail.system.proc import run

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
CONF_DIRS = ("/etc/binfmt.d", "/usr/lib/binfmt.d", "/lib/binfmt.d")

# Debian architecture -> qemu's name for the CPU (the handler is called qemu-<cpu>).
QEMU_CPU = {"arm64": "aarch64", "armhf": "arm", "armel": "arm", "amd64": "x86_64", "i386": "i386",
            "riscv64": "riscv64", "mips64el": "mips64el", "ppc64el": "ppc64le", "s390x": "s390x"}  # fmt: skip

# ELF e_machine -> Debian architecture (32-bit ARM: armhf and armel share qemu-arm).
ELF_MACHINE = {0xB7: "arm64", 0x28: "armhf", 0x3E: "amd64", 0x03: "i386", 0xF3: "riscv64"}

# Host architecture -> the others its CPU runs natively (32-bit on a 64-bit kernel).
NATIVE = {"amd64": {"i386"}, "arm64": {"armhf", "armel"}}


def needs_emulation(arch: str, host: str) -> bool:
    """True when `arch` binaries cannot run on a `host` CPU without qemu."""
    return arch != host and arch not in NATIVE.get(host, set())


def elf_arch(path: str) -> str | None:
    """Debian architecture of the ELF file at `path` (e.g. an image's usr/sbin/postfix); None if unknown."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    return ELF_MACHINE.get(int.from_bytes(head[18:20], order))


def ensure_for_image(rootfs: str, host: str) -> str:
    """ensure() for the architecture of the image at `rootfs` (read from its binaries, so an imported
    tarball is covered too): a container of another architecture starts only with its emulator
    registered, which a reboot or a new CI machine undoes."""
    arch = elf_arch(os.path.join(rootfs, "usr", "sbin", "postfix")) or elf_arch(os.path.join(rootfs, "bin", "sh"))
    return "native" if arch is None else ensure(arch, host)


def handler_flags(text: str) -> str | None:
    """The flags of a registered handler (the text of /proc/sys/fs/binfmt_misc/<name>); None when disabled."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "enabled":
        return None
    for line in lines:
        if line.startswith("flags:"):
            return line.partition(":")[2].strip()
    return ""


def registration(cpu: str, conf_dirs: tuple[str, ...] = CONF_DIRS) -> str:
    """The register line for qemu-<cpu> from the first binfmt.d file that has one."""
    for folder in conf_dirs:
        path = os.path.join(folder, f"qemu-{cpu}.conf")
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith(f":qemu-{cpu}:"):
                        return line.strip()
        except OSError:
            continue
    raise ContainerError(
        f"no binfmt registration for qemu-{cpu} (looked for qemu-{cpu}.conf in {', '.join(conf_dirs)}): "
        "install qemu-user-static (apt-get install qemu-user-static)"
    )


def with_fix_binary(line: str) -> str:
    """The register line with F in its flags (the last field), added when absent."""
    head, _, flags = line.rpartition(":")
    return line if "F" in flags else f"{head}:{flags}F"


def ensure(arch: str, host: str, *, binfmt_dir: str = BINFMT_DIR, conf_dirs: tuple[str, ...] = CONF_DIRS) -> str:
    """Make `arch` binaries run on this `host`; returns what was done ('native', 'present', 'registered').

    A handler registered without F (e.g. by binfmt-support) is replaced by one with it: without F
    the emulator is looked up inside each chroot or container, where it does not exist.
    Needs root; raises ContainerError with one line when emulation cannot be set up.
    """
    if not needs_emulation(arch, host):
        return "native"
    cpu = QEMU_CPU.get(arch)
    if cpu is None:
        raise ContainerError(f"no qemu emulator known for architecture {arch!r}")
    _mount(binfmt_dir)
    entry = os.path.join(binfmt_dir, f"qemu-{cpu}")
    line = with_fix_binary(registration(cpu, conf_dirs))
    interpreter = line.split(":")[6]
    if not os.path.exists(interpreter):
        raise ContainerError(f"{interpreter} missing: install qemu-user-static (apt-get install qemu-user-static)")
    if os.path.exists(entry):
        with open(entry, encoding="utf-8") as handle:
            flags = handler_flags(handle.read())
        if flags is not None and "F" in flags:
            return "present"
        _write(entry, "-1")  # disabled or without F: replace it
    _write(os.path.join(binfmt_dir, "register"), line)
    return "registered"


def _mount(binfmt_dir: str) -> None:
    if os.path.exists(os.path.join(binfmt_dir, "register")):
        return
    result = run(["mount", "-t", "binfmt_misc", "binfmt_misc", binfmt_dir], check=False)
    if not os.path.exists(os.path.join(binfmt_dir, "register")):
        raise ContainerError(f"cannot mount binfmt_misc on {binfmt_dir}: {result.stderr.strip() or 'unknown error'}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(text)
    except OSError as exc:
        raise ContainerError(f"binfmt_misc: writing {path} failed: {exc.strerror}") from None
