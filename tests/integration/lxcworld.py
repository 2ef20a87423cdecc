"""A real LXC mail container for integration tests (reusable by any test package).

    from tests.integration.lxcworld import lxc_world
    with lxc_world(name="smmail", bridge="smmail0", subnet="10.232.0") as world:
        world.container.exec(["postfix", "start"], check=True)
        world.wait_port(25)

What it does: installs `lxc debootstrap` (+ zstd, iputils-ping) with apt when
missing, takes the Debian mail image from the machine-wide cache (built once
with debootstrap, ~1 min here, then unpacked in ~1 s), creates its own bridge
(host .1), defines and starts a container (.2) with tmpfs /run and /tmp, and
tears everything down on exit — even on failure — except the image cache.

The cache dir is $SECUMAIL_IMAGE_CACHE or /var/cache/secumail-test (outside the
checkout, so CI runs on one machine share it). Each world uses fixed paths
under /var/tmp/secumail-lxc-test/<name>, so a run killed half-way is cleaned
up by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from secumail.container import cache, idmap, network
from secumail.container.lxcconf import BindMount, ContainerSpec
from secumail.container.runtime import Container
from tests.support import apt

DEFAULT_CACHE = "/var/cache/secumail-test"
WORK_ROOT = "/var/tmp/secumail-lxc-test"
APT_PACKAGES = ("lxc", "debootstrap", "zstd", "iputils-ping")


def cache_dir() -> str:
    return os.environ.get("SECUMAIL_IMAGE_CACHE") or DEFAULT_CACHE


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("LXC integration tests need root (real containers, bridges, debootstrap)")


def ensure_apt_packages(packages: Sequence[str] = APT_PACKAGES) -> None:
    """apt-get install the missing ones; skip the test on failure."""
    reason = apt.install(packages)
    if reason:
        pytest.skip(reason)


@dataclass
class LxcWorld:
    """One running container on its own bridge, and how long getting it took."""

    container: Container
    spec: ContainerSpec
    workdir: str
    cache_dir: str
    host_ip: str
    timings: dict[str, float] = field(default_factory=dict)
    progress: list[str] = field(default_factory=list)

    @property
    def ip(self) -> str:
        return self.spec.ip

    @property
    def rootfs(self) -> str:
        return self.spec.rootfs

    def wait_port(self, port: int, timeout: float = 15) -> bytes:
        """Connect to the container's `port` until it answers; return the first bytes (banner)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.ip, port), timeout=2) as sock:
                    sock.settimeout(5)
                    return sock.recv(512)
            except OSError as exc:
                last = exc
                time.sleep(0.05)
        raise AssertionError(f"nothing answered on {self.ip}:{port} within {timeout} s: {last}")


def _cleanup_stale(name: str, lxcpath: str, bridge: str | None) -> None:
    """Remove what a killed earlier run left: its container, its unpacked rootfs and the bridge's input
    policy table (the service makes it at start; a test that never runs `mailctl stop` leaves it)."""
    from secumail.mail import firewall

    if bridge is not None:
        with contextlib.suppress(Exception):
            firewall.remove_input_policy(bridge)
    stale = Container(name, lxcpath)
    if stale.exists():
        with contextlib.suppress(Exception):
            stale.stop(timeout=10)
    with contextlib.suppress(Exception):
        subprocess.run(["lxc-stop", "-P", lxcpath, "-n", name, "-k"], capture_output=True, timeout=30)
    with contextlib.suppress(Exception):
        stale.destroy(timeout=10)


@contextlib.contextmanager
def lxc_world(
    name: str = "smtest",
    bridge: str = "smtest0",
    subnet: str = "10.238.0",  # not the UCI default (10.231.0.0/24): a demo may run beside the tests
    memory_mb: int = 256,
    mounts: Sequence[BindMount] = (),
    masks: Sequence[str] = (),
    start: bool = True,
    lxcpath: str | None = None,
    before_start: Callable[[LxcWorld], None] | None = None,
    host_octet: int = 2,
) -> Iterator[LxcWorld]:
    """Container `name` at <subnet>.<host_octet> on bridge `bridge` (<subnet>.1). See module doc.
    `before_start(world)` runs once the rootfs and the config exist (e.g. to shift the mounted data).
    A second world on a bridge that another world made (host_octet 3, ...) leaves that bridge alone."""
    need_root()
    ensure_apt_packages()
    workdir = os.path.join(WORK_ROOT, name)
    lxcpath = lxcpath or os.path.join(workdir, "lxc")
    rootfs = os.path.join(lxcpath, name, "rootfs")
    shares_bridge = host_octet != 2  # the .2 world owns the bridge and its input policy
    _cleanup_stale(name, lxcpath, None if shares_bridge else bridge)
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(os.path.join(lxcpath, name), ignore_errors=True)
    os.makedirs(lxcpath, exist_ok=True)
    mapping = idmap.for_root()
    spec = ContainerSpec(
        name=name,
        lxcpath=lxcpath,
        rootfs=rootfs,
        bridge=bridge,
        bridge_address=f"{subnet}.1/24",
        address=f"{subnet}.{host_octet}/24",
        memory_mb=memory_mb,
        mounts=tuple(mounts),
        masks=tuple(masks),
        idmap=mapping,
    )
    world = LxcWorld(Container.from_spec(spec), spec, workdir, cache_dir(), f"{subnet}.1")
    bridge_made = False
    try:
        t0 = time.monotonic()
        cache.debian_image(world.cache_dir, rootfs, progress=world.progress.append, idmap=mapping)
        world.timings["image"] = time.monotonic() - t0
        bridge_made = network.ensure_bridge(bridge, spec.bridge_address)
        world.container.define(spec)
        if before_start is not None:
            before_start(world)
        if start:
            t0 = time.monotonic()
            world.container.start()
            world.timings["start"] = time.monotonic() - t0
        yield world
    finally:
        with contextlib.suppress(Exception):
            world.container.destroy(timeout=10)
        if os.path.isdir(world.container.directory):  # destroy failed: force it down
            subprocess.run(["lxc-stop", "-P", lxcpath, "-n", name, "-k"], capture_output=True, timeout=30)
            with contextlib.suppress(Exception):
                world.container.destroy(timeout=10)
        if bridge_made or (not shares_bridge and network.bridge_exists(bridge)):
            with contextlib.suppress(Exception):
                network.remove_bridge(bridge)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(os.path.join(lxcpath, name), ignore_errors=True)
