"""The mail container is unprivileged and confined, checked from the host: its id map, who owns what
its root writes, the capabilities it lacks and the syscalls its seccomp policy refuses."""

from __future__ import annotations

import os

import pytest

from secumail.container import idmap
from tests.integration.lxcworld import LxcWorld

pytestmark = pytest.mark.integration


def _status(pid: int, key: str) -> str:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def test_root_in_the_container_is_an_unprivileged_uid_on_the_host(running: LxcWorld) -> None:
    mapping = running.spec.idmap
    assert mapping is not None and mapping.uid_base >= 65536
    pid = running.container.pid()
    with open(f"/proc/{pid}/uid_map") as handle:
        assert handle.read().split() == ["0", str(mapping.uid_base), str(mapping.size)]
    with open(f"/proc/{pid}/gid_map") as handle:
        assert handle.read().split() == ["0", str(mapping.gid_base), str(mapping.size)]
    assert _status(pid, "Uid").split()[0] == str(mapping.uid_base)  # the init, as the host sees it
    assert running.container.exec(["id", "-u"], check=True).stdout.strip() == "0"  # root inside


def test_a_file_created_by_container_root_is_owned_by_the_mapped_uid(running: LxcWorld) -> None:
    running.container.exec(["sh", "-c", "echo hi > /var/tmp/made-by-root"], check=True)
    st = os.stat(os.path.join(running.rootfs, "var/tmp/made-by-root"))
    assert (st.st_uid, st.st_gid) == (running.spec.idmap.uid(0), running.spec.idmap.gid(0))


def test_the_image_is_owned_by_the_mapped_ids_and_keeps_its_setgid_bits(running: LxcWorld) -> None:
    mapping = running.spec.idmap
    assert os.stat(running.rootfs).st_uid == mapping.uid(0)
    postdrop = os.stat(os.path.join(running.rootfs, "usr/sbin/postdrop"))
    assert postdrop.st_mode & 0o2000, "chown cleared postdrop's setgid bit"
    group = idmap.image_id(running.rootfs, "postdrop")
    assert postdrop.st_gid == mapping.gid(group)
    assert idmap.rootfs_map(running.rootfs) == mapping  # the marker: the rootfs is not walked again


def test_dropped_capabilities_are_not_in_the_bounding_set(running: LxcWorld) -> None:
    bounding = int(_status(running.container.pid(), "CapBnd"), 16)
    for name, bit in (("sys_admin", 21), ("dac_read_search", 2), ("net_raw", 13), ("mknod", 27),
                      ("sys_module", 16), ("net_admin", 12)):  # fmt: skip
        assert not bounding & (1 << bit), f"{name} is still in the bounding set"
    for name, bit in (("chown", 0), ("setuid", 7), ("setgid", 6), ("sys_chroot", 18), ("net_bind_service", 10)):
        assert bounding & (1 << bit), f"{name} was dropped: the mail services need it"


# Run by the container's python3: raw clone with each namespace flag, a plain clone, clone3, a thread.
_CLONE_PROBE = """
import ctypes, json, os, platform, signal, threading
NR_CLONE, NR_CLONE3 = {"x86_64": (56, 435), "aarch64": (220, 435)}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def outcome(pid):
    if pid == 0:
        os._exit(0)  # the child, a copy of this process: nothing more to do
    if pid > 0:
        os.waitpid(pid, 0)
        return "ok"
    return os.strerror(ctypes.get_errno())

flags = json.loads(os.environ["FLAGS"])
found = {name: outcome(libc.syscall(NR_CLONE, ctypes.c_ulong(flag | signal.SIGCHLD), 0, 0, 0, 0))
         for name, flag in flags.items()}
found["plain clone"] = outcome(libc.syscall(NR_CLONE, ctypes.c_ulong(signal.SIGCHLD), 0, 0, 0, 0))
args = (ctypes.c_uint64 * 11)(0, 0, 0, 0, signal.SIGCHLD)  # struct clone_args: flags ... exit_signal
found["clone3"] = outcome(libc.syscall(NR_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))))
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
found["thread"] = "ok"
print(json.dumps(found))
"""


def test_seccomp_refuses_new_namespaces_through_clone_and_clone3(running: LxcWorld) -> None:
    """unshare is refused by name; clone with a CLONE_NEW* flag must be too, and clone3 (whose flags
    seccomp cannot read) answers ENOSYS so threads and processes still start through clone."""
    import json
    import platform

    from secumail.container.lxcconf import CLONE_NAMESPACE_FLAGS

    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip(f"the probe knows the syscall numbers of x86_64 and aarch64, not {platform.machine()}")
    res = running.container.exec(["env", f"FLAGS={json.dumps(CLONE_NAMESPACE_FLAGS)}", "python3", "-c",
                                  _CLONE_PROBE], timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    for name in CLONE_NAMESPACE_FLAGS:
        assert found[name] == "Operation not permitted", (name, found)
    assert found["plain clone"] == "ok" and found["thread"] == "ok", found
    assert found["clone3"] == "Function not implemented", found


def test_seccomp_refuses_what_no_mail_service_does(running: LxcWorld) -> None:
    pid = running.container.pid()
    assert _status(pid, "Seccomp") == "2"  # filter mode
    c = running.container
    res = c.exec(["unshare", "-U", "true"])  # a new user namespace (root in it)
    assert res.returncode != 0 and "Operation not permitted" in res.stderr, res
    res = c.exec(["sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m"])
    assert res.returncode != 0
    # and the ordinary things still work, as root and as another user
    assert c.exec(["chroot", "/", "true"]).returncode == 0
    assert c.exec(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "id", "-u"],
                  check=True).stdout.strip() == "65534"  # fmt: skip
