"""One appliance for the LuCI tests: its UCI file, a mailctl of this checkout, the environment rpcd's plugin
runs with, and the teardown (container, bridge, files). Each test module has its own name, bridge, subnet
and work directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass

from tests.integration.lxcworld import _cleanup_stale, cache_dir
from tests.support.luciplugin import appliance_env
from tests.support.procs import terminate


@dataclass(frozen=True)
class World:
    work: str  # every path of the appliance is under it
    name: str  # container
    bridge: str
    subnet: str  # "10.237.0": host .1, container .2
    domain: str
    confdir: str  # where /etc/config/mailserver is

    @property
    def ip(self) -> str:
        return f"{self.subnet}.2"

    def env(self) -> dict[str, str]:
        """What rpcd gives the plugin (and so mailctl and a secumaild it starts); writes this checkout's
        mailctl where SECUMAIL_MAILCTL points."""
        return appliance_env(self.work, self.confdir, cache_dir())

    def write_config(self, domain: str | None = None) -> None:
        os.makedirs(self.confdir, exist_ok=True)
        with open(os.path.join(self.confdir, "mailserver"), "w") as handle:
            handle.write(f"""
config mailserver 'main'
	option enabled '1'
	option domain '{domain or self.domain}'
	option hostname 'mail'
	option data_path '{self.work}/data'
	option container '{self.name}'

config dkim 'dkim'
	option key_bits '1024'

config container 'container'
	option lxc_path '{self.work}/lxc'
	option bridge '{self.bridge}'
	option host_address '{self.subnet}.1/24'
	option address '{self.ip}/24'
""")

    def install(self) -> dict:
        """The container, installed by the library call `mailctl install` makes, from the shared image cache."""
        from secumail.appliance import lifecycle
        from secumail.config import load_settings

        saved = os.environ.get("SECUMAIL_IMAGE_CACHE")
        os.environ["SECUMAIL_IMAGE_CACHE"] = cache_dir()
        try:
            return lifecycle.install(load_settings(self.confdir))
        finally:
            if saved is None:
                os.environ.pop("SECUMAIL_IMAGE_CACHE", None)
            else:
                os.environ["SECUMAIL_IMAGE_CACHE"] = saved

    def teardown(self, daemon: subprocess.Popen | None = None) -> None:
        terminate(daemon, 15)
        _cleanup_stale(self.name, f"{self.work}/lxc", self.bridge)
        from secumail.container import network

        if network.bridge_exists(self.bridge):
            with contextlib.suppress(Exception):
                network.remove_bridge(self.bridge)
        shutil.rmtree(self.work, ignore_errors=True)
