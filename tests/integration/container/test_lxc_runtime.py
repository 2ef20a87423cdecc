"""The mail container on real LXC: lifecycle, network, services, limits, destroy."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from secumail.container import cache, lxc_binding, lxcconf, network
from secumail.container.lxcconf import ContainerSpec
from secumail.container.runtime import ABSENT, RUNNING, STOPPED, Container
from secumail.errors import ContainerError
from tests.integration.lxcworld import LxcWorld

pytestmark = pytest.mark.integration

DOVECOT_CONF = """protocols = imap pop3
listen = *
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
log_path = /var/log/dovecot-test.log
mail_location = maildir:/tmp/mail/%u
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=mail gid=mail home=/tmp/mail/%u
}
"""


def test_container_reaches_running(running: LxcWorld, backend: str) -> None:
    c = running.container
    assert c.backend.name == backend
    assert c.state() == RUNNING
    assert c.pid() and c.pid() > 1
    assert c.info() == (RUNNING, c.pid())
    assert c.addresses() == [running.ip]
    init = c.exec(["cat", "/proc/1/cmdline"], check=True).stdout.split("\0")
    assert init[0] == "/usr/bin/tini"
    print(f"\nimage: {running.timings['image']:.1f} s; start: {running.timings['start']:.2f} s")
    for line in running.progress:
        print("  " + line)


def test_start_is_idempotent(running: LxcWorld) -> None:
    pid = running.container.pid()
    assert running.container.start() is False
    assert running.container.pid() == pid


def test_exec_returns_rc_output_and_takes_stdin(running: LxcWorld) -> None:
    c = running.container
    res = c.exec(["sh", "-c", "cat; echo err >&2; exit 3"], input="secret-on-stdin\n")
    assert (res.returncode, res.stdout, res.stderr) == (3, "secret-on-stdin\n", "err\n")
    with pytest.raises(ContainerError, match="exited with 3"):
        c.exec(["sh", "-c", "exit 3"], check=True)
    c.write_file("/tmp/secret", "s3cret\n", mode=0o600)
    assert c.read_file("/tmp/secret") == "s3cret\n"
    assert c.exec(["stat", "-c", "%a", "/tmp/secret"]).stdout.strip() == "600"
    env = c.exec(["env"], env={"FOO": "bar"}).stdout.split()
    assert "FOO=bar" in env
    assert not any(v.startswith("REQUESTS_CA_BUNDLE") for v in env)  # host env is not leaked
    missing = c.exec(["no-such-program"])
    assert missing.returncode == 127 and "no-such-program" in missing.stderr
    with pytest.raises(ContainerError, match="did not finish within 1 s"):
        c.exec(["sleep", "30"], timeout=1)
    big = "x" * 1_000_000  # more than a pipe holds: stdin and stdout must flow at once
    assert c.exec(["cat"], input=big).stdout == big


def test_state_and_exec_leave_no_process_behind(running: LxcWorld) -> None:
    """Each exec is reaped (no zombie of ours) and leaves nothing running in the container."""
    c = running.container

    def children() -> set[str]:
        with open(f"/proc/self/task/{os.getpid()}/children") as handle:
            return set(handle.read().split())

    before = children()  # an earlier test's servers on this worker (a world's Knot, a daemon) are not ours
    for _ in range(20):
        assert c.exec(["true"]).returncode == 0
        c.state()
    assert children() - before == set()
    inside = c.exec(["sh", "-c", "cat /proc/[0-9]*/comm"]).stdout.split()
    assert "true" not in inside


def test_network_host_to_container_and_back(running: LxcWorld) -> None:
    ip = running.ip
    out = os.popen(f"ping -c 2 -W 2 {ip}").read()  # noqa: S605 (fixed argv, test only)
    assert " 0% packet loss" in out, out
    # container -> host: bash's /dev/tcp to a listener on the bridge address
    with socket.socket() as srv:
        srv.bind((running.host_ip, 0))
        srv.listen(1)
        srv.settimeout(10)
        port = srv.getsockname()[1]
        got: list[bytes] = []

        def accept() -> None:
            conn, peer = srv.accept()
            with conn:
                got.append(conn.recv(100) + f" from {peer[0]}".encode())

        t = threading.Thread(target=accept)
        t.start()
        res = running.container.exec(
            ["bash", "-c", f"echo hello-from-container > /dev/tcp/{running.host_ip}/{port}"]
        )
        t.join(10)
    assert res.returncode == 0, res.stderr
    assert got == [f"hello-from-container\n from {ip}".encode()]
    routes = running.container.exec(["cat", "/proc/net/route"]).stdout
    # no default route inside (tests never route anywhere but the bridge)
    assert not any(line.split("\t")[1] == "00000000" for line in routes.splitlines()[1:] if line)


def test_mail_binaries_present(running: LxcWorld) -> None:
    res = running.container.exec(
        ["sh", "-c", "for p in postfix dovecot doveconf opendkim opendkim-genkey sendmail; do command -v $p; done"]
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(res.stdout.split()) == 6


def test_postfix_and_dovecot_answer_from_host(running_once: LxcWorld) -> None:
    running = running_once
    c = running.container
    c.exec(["postfix", "start"], check=True, timeout=60)
    banner = running.wait_port(25)
    assert banner.startswith(b"220 ") and b"ESMTP Postfix" in banner
    assert b"smtest" in banner  # the container's hostname, not the build machine's
    c.exec(["sh", "-c", "cat > /tmp/dovecot.conf"], input=DOVECOT_CONF, check=True)
    c.exec(["dovecot", "-c", "/tmp/dovecot.conf"], daemon=True, check=True, timeout=30)
    assert running.wait_port(143).startswith(b"* OK")
    assert running.wait_port(110).startswith(b"+OK")


def test_stop_start_again_gives_fresh_run_and_banner(running: LxcWorld) -> None:
    c = running.container
    c.exec(["sh", "-c", "touch /run/stale.pid /tmp/stale"], check=True)
    assert c.stop() is True
    assert c.state() == STOPPED
    assert c.stop() is False
    t0 = time.monotonic()
    assert c.start() is True
    c.exec(["postfix", "start"], check=True, timeout=60)
    banner = running.wait_port(25)
    elapsed = time.monotonic() - t0
    print(f"\ncontainer start -> SMTP banner: {elapsed:.2f} s")
    assert banner.startswith(b"220 ")
    left = c.exec(["ls", "-A", "/run", "/tmp"]).stdout
    assert "stale" not in left  # tmpfs on /run and /tmp
    c.exec(["sh", "-c", "cat > /tmp/dovecot.conf"], input=DOVECOT_CONF, check=True)
    c.exec(["dovecot", "-c", "/tmp/dovecot.conf"], daemon=True, check=True, timeout=30)
    assert running.wait_port(143).startswith(b"* OK")


def test_memory_limit_applied(running: LxcWorld) -> None:
    c = running.container
    want = running.spec.memory_mb * 1024 * 1024
    if lxcconf.detect_cgroup_version() == 1:
        assert int(c.cgroup_get("memory.limit_in_bytes")) == want
        key, fname = "memory", "memory.limit_in_bytes"
    else:
        assert int(c.cgroup_get("memory.max")) == want
        key, fname = "", "memory.max"
    # and straight from the cgroup filesystem, via the init's /proc/<pid>/cgroup
    with open(f"/proc/{c.pid()}/cgroup", encoding="utf-8") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (key and key in controllers.split(",")) or (not key and controllers == ""):
                break
        else:
            pytest.fail("no memory cgroup for the container init")
    base = "/sys/fs/cgroup/memory" if key else "/sys/fs/cgroup"
    candidates = [os.path.join(base, path.lstrip("/"), fname)]
    candidates.append(os.path.join(os.path.dirname(candidates[0]), "..", fname))  # init in a sub-cgroup
    values = [int(open(p).read()) for p in candidates if os.path.exists(p)]  # noqa: SIM115
    assert want in values, (candidates, values)


def test_dropped_capabilities(running: LxcWorld) -> None:
    status = running.container.exec(["grep", "CapBnd", "/proc/1/status"], check=True).stdout
    bnd = int(status.split()[1], 16)
    for cap in (16, 17, 22, 25, 12):  # sys_module, sys_rawio, sys_boot, sys_time, net_admin
        assert not bnd & (1 << cap)
    for cap in (0, 1, 6, 7, 10, 18):  # chown, dac_override, setgid, setuid, net_bind_service, sys_chroot
        assert bnd & (1 << cap)


def test_destroy_keeps_rootfs_and_cached_image(lxcworld: LxcWorld, backend: str) -> None:
    """A second container on the same image dir: destroy removes it, not the image."""
    spec = ContainerSpec(
        name="smtest-d",
        lxcpath=lxcworld.spec.lxcpath,
        rootfs=lxcworld.rootfs,
        bridge=lxcworld.spec.bridge,
        bridge_address=lxcworld.spec.bridge_address,
        address=lxcworld.ip.rsplit(".", 1)[0] + ".3/24",
        memory_mb=64,
    )
    other = Container.from_spec(spec, backend=backend)
    try:
        other.define(spec)
        other.start()
        assert other.state() == RUNNING
        assert other.destroy() is True
        assert other.state() == ABSENT
        assert not os.path.exists(other.directory)
        assert os.path.isfile(os.path.join(lxcworld.rootfs, "usr/sbin/postfix"))
        assert os.path.isfile(os.path.join(lxcworld.rootfs, "usr/local/sbin/secumail-init"))
        cached = [f for f in os.listdir(lxcworld.cache_dir) if f.endswith((".tar.zst", ".tar.gz"))]
        assert cached
        assert other.destroy() is False
        # the session container is unharmed
        assert lxcworld.container.exists()
    finally:
        if os.path.isdir(other.directory):
            os.system(f"lxc-stop -P {spec.lxcpath} -n {spec.name} -k >/dev/null 2>&1")  # noqa: S605
            other.destroy()


def test_cache_hit_is_fast(lxcworld: LxcWorld, tmp_path) -> None:
    t0 = time.monotonic()
    target = str(tmp_path / "rootfs")
    cache.debian_image(lxcworld.cache_dir, target, progress=None)
    elapsed = time.monotonic() - t0
    print(f"\nimage from cache: {elapsed:.1f} s")
    assert os.path.isfile(os.path.join(target, "usr/sbin/dovecot"))
    assert elapsed < 60


def test_bridge_is_idempotent(lxcworld: LxcWorld) -> None:
    assert network.ensure_bridge(lxcworld.spec.bridge, lxcworld.spec.bridge_address) is False
    assert network.bridge_addresses(lxcworld.spec.bridge).count(lxcworld.spec.bridge_address) == 1


def test_world_cleans_up_after_a_failure(lxcworld: LxcWorld) -> None:
    """A test that fails inside lxc_world still leaves no container and no bridge."""
    from tests.integration.lxcworld import WORK_ROOT, lxc_world

    seen: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="boom"), lxc_world(
        name="smfail", bridge="smfail0", subnet="10.239.0", memory_mb=64
    ) as world:
        seen["dir"] = world.container.directory
        assert world.container.state() == RUNNING
        assert network.bridge_exists("smfail0")
        raise RuntimeError("boom")
    assert not network.bridge_exists("smfail0")
    assert not os.path.exists(seen["dir"])
    assert not os.path.exists(os.path.join(WORK_ROOT, "smfail"))
    assert lxcworld.container.running()  # the session container is untouched


def test_binding_start_in_process_leaks_no_descriptor(lxcworld: LxcWorld) -> None:
    """liblxc's own start forks its monitor from this process: it must not keep our sockets open."""
    if lxc_binding.load() is None:
        pytest.skip(f"python3-lxc not importable ({lxc_binding.why_missing()})")
    c = Container.from_spec(lxcworld.spec, backend="binding")
    c.stop()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        inode = os.fstat(listener.fileno()).st_ino
        assert c.backend.start_in_process() is None
        c._wait(RUNNING, 30)
        with open(f"/proc/{c.pid()}/stat") as handle:
            monitor = int(handle.read().rsplit(")", 1)[1].split()[1])
        held = {os.readlink(f"/proc/{monitor}/fd/{fd}") for fd in os.listdir(f"/proc/{monitor}/fd")}
    assert f"socket:[{inode}]" not in held
    assert c.exec(["true"]).returncode == 0
