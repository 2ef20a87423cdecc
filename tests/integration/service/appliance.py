"""An appliance driven as a user drives it: `mailctl` as a subprocess against its own UCI config (a
confdir in a work dir), its own bridge and subnet, and the shared image cache (keyed by architecture).

test_appliance.py runs one of the host's architecture, test_arm64.py one whose image is arm64 (run
under qemu-user-static on an x86 host).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

from secumail.container import binfmt
from secumail.container.provision.debian import host_arch
from tests.integration.lxcworld import APT_PACKAGES, _cleanup_stale, cache_dir, ensure_apt_packages, need_root


@dataclasses.dataclass(frozen=True)
class Appliance:
    work: str
    name: str
    bridge: str
    subnet: str
    domain: str = "appliance.test"
    arch: str = ""  # empty: the host's
    memory_mb: int = 0  # container.memory; 0: auto
    uci: str = ""  # more sections for /etc/config/mailserver

    @property
    def ip(self) -> str:
        return f"{self.subnet}.2"

    @property
    def lxc_path(self) -> str:
        return f"{self.work}/lxc"

    @property
    def rootfs(self) -> str:
        return f"{self.lxc_path}/{self.name}/rootfs"

    @property
    def data(self) -> str:
        return f"{self.work}/data"

    def mailctl(self, *args: str, stdin: str = "", check: bool = True, timeout: float = 300):
        env = dict(os.environ, SECUMAIL_CONFDIR=f"{self.work}/config", SECUMAIL_SAVEDIR=f"{self.work}/save",
                   SECUMAIL_IMAGE_CACHE=cache_dir(), SECUMAIL_RUNDIR=f"{self.work}/run")  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "secumail.cli", *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=timeout)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"mailctl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def attach(self, *args: str, timeout: float = 60):
        return subprocess.run(["lxc-attach", "-P", self.lxc_path, "-n", self.name, "--clear-env", "--", *args],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def init_pid(self) -> int:
        out = subprocess.run(["lxc-info", "-P", self.lxc_path, "-n", self.name, "-p", "-H"],
                             capture_output=True, text=True)  # fmt: skip
        return int(out.stdout.strip())


@contextlib.contextmanager
def appliance_world(appliance: Appliance) -> Iterator[Appliance]:
    """Its config written, nothing installed yet; on exit stopped and removed (the image cache stays)."""
    need_root()
    emulated = bool(appliance.arch) and binfmt.needs_emulation(appliance.arch, host_arch())
    ensure_apt_packages((*APT_PACKAGES, "qemu-user-static") if emulated else APT_PACKAGES)
    _cleanup_stale(appliance.name, appliance.lxc_path, appliance.bridge)
    shutil.rmtree(appliance.work, ignore_errors=True)
    os.makedirs(f"{appliance.work}/config")
    container = f"\n\toption arch '{appliance.arch}'" if appliance.arch else ""
    container += f"\n\toption memory '{appliance.memory_mb}'" if appliance.memory_mb else ""
    with open(f"{appliance.work}/config/mailserver", "w") as handle:
        handle.write(f"""
config mailserver 'main'
	option domain '{appliance.domain}'
	option hostname 'mail'
	option data_path '{appliance.data}'
	option container '{appliance.name}'

config container 'container'
	option lxc_path '{appliance.lxc_path}'
	option bridge '{appliance.bridge}'
	option host_address '{appliance.subnet}.1/24'
	option address '{appliance.ip}/24'{container}
{appliance.uci}""")
    try:
        yield appliance
    finally:
        with contextlib.suppress(Exception):
            appliance.mailctl("stop", check=False, timeout=60)
        _cleanup_stale(appliance.name, appliance.lxc_path, appliance.bridge)
        subprocess.run(["ip", "link", "del", appliance.bridge], capture_output=True)  # the service keeps its bridge
        shutil.rmtree(appliance.work, ignore_errors=True)
