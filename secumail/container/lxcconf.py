"""Render the LXC config of the mail container from a plain spec.

A pure function of (spec, cgroup version): the whole container definition is
one file we write ourselves (not set_config_item calls), so it can be diffed,
reviewed and unit-tested. Lines that were needed on real hosts:

- `lxc.net.0.flags = up`: without it the veth stays down inside and Postfix
  fails silently (binds, but nothing arrives).
- tmpfs on /run and /tmp: a container's /run survives restarts otherwise, and
  Dovecot refuses to start on a stale PID file / hangs on instances.lock.
- `lxc.signal.halt = SIGTERM`: our init (tini) stops on TERM, not on SIGPWR.
- memory: cgroup v1 `lxc.cgroup.memory.limit_in_bytes`, v2 `lxc.cgroup2.memory.max`.

Confinement: an id map (secumail.container.idmap: root inside is an
unprivileged uid outside), the capabilities below dropped, and a seccomp
denylist (SECCOMP_DENY, written beside the config by runtime.Container.define).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from secumail.container.idmap import IdMap
from secumail.errors import InputError

# tini is PID 1 of the container's pid namespace: orphans come to it without -s (the subreaper flag, a
# prctl qemu-user 7.2 refuses, so an arm64 image under emulation on a PC would not start with it).
INIT_CMD = "/usr/bin/tini -- /usr/local/sbin/secumail-init"

# Capabilities the mail services never need. Postfix and Dovecot do need
# chown, dac_override, fowner, setuid/setgid, kill, net_bind_service and
# sys_chroot (Dovecot chroots its login processes), so those stay. Under the
# id map these act only inside the container's user namespace; dropping them
# still closes mounts (sys_admin), file handles (dac_read_search), raw
# sockets (net_raw) and device nodes (mknod) to a compromised service.
DROP_CAPS: tuple[str, ...] = (
    "sys_admin",
    "dac_read_search",
    "net_raw",
    "mknod",
    "sys_ptrace",
    "setfcap",
    "sys_module",
    "sys_rawio",
    "sys_time",
    "sys_boot",
    "sys_pacct",
    "sys_tty_config",
    "mac_admin",
    "mac_override",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_control",
    "linux_immutable",
    "net_admin",
    "lease",
)

# Device nodes the container may use (char major:minor), for the devices cgroup.
ALLOWED_DEVICES: tuple[str, ...] = (
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
)

# Syscalls no mail service makes, refused with EPERM (LXC's common.seccomp, widened): kernel
# modules and kexec, file handles, keyrings, BPF, perf, io_uring, new namespaces, mounts.
SECCOMP_DENY: tuple[str, ...] = (
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
    "process_vm_readv", "process_vm_writev", "ptrace",
    "iopl", "ioperm", "uselib", "nfsservctl", "vhangup",
)  # fmt: skip


# New namespaces through clone are refused like unshare: a user namespace would give the container's
# processes a root of their own and the kernel surface behind it. One rule per flag (a rule compares
# `flags & mask == value` once). clone3 passes its flags in memory seccomp cannot read: it answers
# ENOSYS, so the C library falls back to clone for threads and processes.
CLONE_NAMESPACE_FLAGS: dict[str, int] = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}  # fmt: skip
EPERM, ENOSYS = 1, 38


def seccomp_policy(deny: tuple[str, ...] = SECCOMP_DENY) -> str:
    """LXC seccomp policy (version 2) refusing `deny` on every architecture, `umount -f`, clone with a
    namespace flag (its flags are argument 0 on x86, arm and mips) and clone3 (ENOSYS)."""
    lines = ["2", "denylist", "reject_force_umount", "[all]", *(f"{name} errno {EPERM}" for name in deny)]
    lines += [f"clone errno {EPERM} [0,{flag:#x},SCMP_CMP_MASKED_EQ,{flag:#x}]"
              for flag in CLONE_NAMESPACE_FLAGS.values()]  # fmt: skip
    lines.append(f"clone3 errno {ENOSYS}")
    return "\n".join(lines) + "\n"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class BindMount:
    """host_path is mounted on container_path (relative to the rootfs)."""

    host_path: str
    container_path: str
    read_only: bool = False
    create: str = "dir"  # "dir" or "file": what LXC creates when the target is missing


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that defines the mail container. Plain data, no behaviour."""

    name: str
    lxcpath: str
    rootfs: str
    bridge: str = "br-mail"
    bridge_address: str = "10.231.0.1/24"  # host side; network.ensure_bridge uses it
    address: str = "10.231.0.2/24"  # container side, with prefix
    gateway: str | None = None  # default route inside the container (None: none)
    memory_mb: int | None = 256
    mounts: tuple[BindMount, ...] = ()
    network_mode: str = "bridge"  # "bridge" (own netns, veth on bridge) or "host"
    drop_caps: tuple[str, ...] = DROP_CAPS
    autodev: bool = True
    tmpfs_run_tmp: bool = True
    hostname: str | None = None
    init_cmd: str = INIT_CMD
    hwaddr: str | None = None
    log_level: str = "INFO"
    idmap: IdMap | None = None  # None: a privileged container (only for tests of other things)
    seccomp: bool = True  # lxc.seccomp.profile = <container_dir>/seccomp (SECCOMP_DENY)
    masks: tuple[str, ...] = ()  # container paths hidden under an empty read-only tmpfs
    cgroup_dir: str = ""  # lxc.cgroup.dir: the container's cgroup is made below this one (empty: LXC's default)
    extra: tuple[str, ...] = field(default=())  # raw `lxc.key = value` lines, appended

    @property
    def container_dir(self) -> str:
        return os.path.join(self.lxcpath, self.name)

    @property
    def config_path(self) -> str:
        return os.path.join(self.container_dir, "config")

    @property
    def log_path(self) -> str:
        return os.path.join(self.container_dir, "lxc.log")

    @property
    def seccomp_path(self) -> str:
        return os.path.join(self.container_dir, "seccomp")

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)


def validate(spec: ContainerSpec) -> None:
    """Reject specs that would render a broken or unsafe config (InputError, one line)."""
    if not _NAME.match(spec.name):
        raise InputError(f"container name {spec.name!r}: use letters, digits, '-', '_', '.'")
    for label, path in (("lxcpath", spec.lxcpath), ("rootfs", spec.rootfs)):
        if not os.path.isabs(path):
            raise InputError(f"container {label} {path!r} must be an absolute path")
    if os.path.normpath(spec.rootfs) in ("/", os.path.normpath(spec.lxcpath)):
        raise InputError(f"container rootfs {spec.rootfs!r} cannot be / or the lxcpath itself")
    if spec.network_mode not in ("bridge", "host"):
        raise InputError(f"network_mode {spec.network_mode!r}: use 'bridge' or 'host'")
    if spec.network_mode == "bridge":
        if not _IFNAME.match(spec.bridge):
            raise InputError(f"bridge name {spec.bridge!r}: at most 15 letters, digits, '-', '_', '.'")
        try:
            addr = ipaddress.ip_interface(spec.address)
            ipaddress.ip_interface(spec.bridge_address)
            if spec.gateway:
                ipaddress.ip_address(spec.gateway)
        except ValueError as exc:
            raise InputError(f"container network: {exc}") from None
        if addr.version != 4:
            raise InputError(f"container address {spec.address!r} must be IPv4 (with /prefix)")
    if spec.memory_mb is not None and spec.memory_mb < 16:
        raise InputError(f"container memory {spec.memory_mb} MB is too small (at least 16)")
    for m in spec.mounts:
        if not os.path.isabs(m.host_path) or not m.container_path.startswith("/"):
            raise InputError(f"bind mount {m.host_path!r} -> {m.container_path!r}: paths must be absolute")
        if ".." in m.container_path.split("/") or any(c in m.container_path for c in " \t\n"):
            raise InputError(f"bind mount target {m.container_path!r}: no '..' or whitespace")
        if any(c in m.host_path for c in " \t\n"):
            raise InputError(f"bind mount source {m.host_path!r}: no whitespace")
        if m.create not in ("dir", "file"):
            raise InputError(f"bind mount {m.container_path!r}: create must be 'dir' or 'file'")
    for target in spec.masks:
        if not target.startswith("/") or ".." in target.split("/") or any(c in target for c in " \t\n"):
            raise InputError(f"masked path {target!r}: absolute, no '..' or whitespace")
    if spec.cgroup_dir and (spec.cgroup_dir.startswith("/") or ".." in spec.cgroup_dir.split("/")
                            or any(c in spec.cgroup_dir for c in " \t\n")):  # fmt: skip
        raise InputError(f"cgroup dir {spec.cgroup_dir!r}: a path below the cgroup root, no '..' or whitespace")
    for line in spec.extra:
        if "\n" in line or not line.strip().startswith("lxc."):
            raise InputError(f"extra LXC line {line!r}: one `lxc.key = value` per entry")


def detect_cgroup_version(root: str = "/sys/fs/cgroup") -> int:
    """2 on a unified hierarchy, 1 when the v1 memory controller is mounted (hybrid = 1)."""
    if os.path.isdir(os.path.join(root, "memory")):
        return 1
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return 2
    return 1


def render(spec: ContainerSpec, cgroup_version: int | None = None) -> str:
    """The LXC config file for `spec` (text). cgroup_version None: detect on this host."""
    validate(spec)
    cg = cgroup_version if cgroup_version is not None else detect_cgroup_version()
    if cg not in (1, 2):
        raise InputError(f"cgroup version {cg}: must be 1 or 2")
    out: list[str] = [
        "# Written by secumail (secumail.container.lxcconf); edits are overwritten.",
        f"lxc.uts.name = {spec.hostname or spec.name}",
        f"lxc.rootfs.path = dir:{spec.rootfs}",
        f"lxc.init.cmd = {spec.init_cmd}",
        "lxc.signal.halt = SIGTERM",
        "lxc.signal.stop = SIGKILL",
        f"lxc.log.file = {spec.log_path}",
        f"lxc.log.level = {spec.log_level}",
        "",
        "# Devices and kernel interfaces",
        f"lxc.autodev = {1 if spec.autodev else 0}",
        "lxc.tty.max = 0",
        "lxc.pty.max = 16",
        "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed",
    ]
    if spec.tmpfs_run_tmp:
        out += [
            "# A fresh /run and /tmp on every start: no stale Dovecot PID or instances.lock",
            "lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=0755,size=16m,create=dir 0 0",
            "lxc.mount.entry = tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777,size=64m,create=dir 0 0",
        ]
    if spec.mounts:
        out.append("# State from data_path")
    for m in spec.mounts:
        opts = "bind" + (",ro" if m.read_only else "") + f",create={m.create}"
        out.append(f"lxc.mount.entry = {m.host_path} {m.container_path.lstrip('/')} none {opts} 0 0")
    for target in spec.masks:
        out.append(f"lxc.mount.entry = tmpfs {target.lstrip('/')} tmpfs ro,nosuid,nodev,noexec,size=4k,mode=000 0 0")
    if spec.idmap is not None:
        out += ["", "# Unprivileged: root inside is an unprivileged id on the host", *spec.idmap.lxc_lines()]
    out += ["", "# Capabilities the mail services never need"]
    if spec.drop_caps:
        out.append(f"lxc.cap.drop = {' '.join(spec.drop_caps)}")
    if spec.seccomp:
        out.append(f"lxc.seccomp.profile = {spec.seccomp_path}")
    out += ["", "# cgroup: devices and memory"]
    prefix = "lxc.cgroup" if cg == 1 else "lxc.cgroup2"
    out.append(f"{prefix}.devices.deny = a")
    out += [f"{prefix}.devices.allow = {dev}" for dev in ALLOWED_DEVICES]
    if spec.cgroup_dir:
        out.append(f"lxc.cgroup.dir = {spec.cgroup_dir}")
    if spec.memory_mb is not None:
        if cg == 1:
            out.append(f"lxc.cgroup.memory.limit_in_bytes = {spec.memory_mb}M")
        else:
            out.append(f"lxc.cgroup2.memory.max = {spec.memory_mb * 1024 * 1024}")
    out += ["", "# Network"]
    if spec.network_mode == "host":
        out.append("lxc.net.0.type = none")
    else:
        out += [
            "lxc.net.0.type = veth",
            f"lxc.net.0.link = {spec.bridge}",
            "lxc.net.0.flags = up",
            "lxc.net.0.name = eth0",
            f"lxc.net.0.ipv4.address = {spec.address}",
        ]
        if spec.gateway:
            out.append(f"lxc.net.0.ipv4.gateway = {spec.gateway}")
        if spec.hwaddr:
            out.append(f"lxc.net.0.hwaddr = {spec.hwaddr}")
    if spec.extra:
        out += ["", "# Extra lines from the caller", *spec.extra]
    return "\n".join(out) + "\n"
