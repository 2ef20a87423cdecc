"""A confdir + data_path pointing at the session's Knot and pebble (tests and bench/certs_issuance.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.certs import world
from tests.support.paths import REPO


def uci_text(options: dict[str, dict[str, object]]) -> str:
    out = []
    for section, values in options.items():
        kind = "mailserver" if section == "main" else section
        out.append(f"config {kind} '{section}'")
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                out += [f"\tlist {key} '{item}'" for item in value]
            else:
                out.append(f"\toption {key} '{value}'")
        out.append("")
    return "\n".join(out)


class Site:
    """A confdir + data_path pointing at the session's Knot and pebble."""

    def __init__(self, root: str, servers: dict, **overrides: dict) -> None:
        self.root = root
        self.confdir = os.path.join(root, "etc")
        self.data = os.path.join(root, "data")
        os.makedirs(self.confdir, exist_ok=True)
        self.credentials = servers["knot"].credentials_file(os.path.join(root, "dns.secret"))
        pebble = servers["pebble"]
        self.options = {
            "main": {"domain": world.ZONE, "hostname": "mail", "data_path": self.data},
            "ssl": {"type": "acme"},
            "acme": {"directory": pebble.directory, "ca_bundle": pebble.ca_file, "key_type": "ec256"},
            "dns": {
                "provider": "rfc2136",
                "server": world.DNS_ADDR,
                "zone": world.ZONE,
                "credentials": self.credentials,
                "timeout": "2",
                # the certificate for the mail host (and extra names) only: the web server's names
                # (autoconfig, autodiscover) are tested on the simulated internet (test_autoconfig.py)
                "autoconfig": "0",
            },
            "container": {"lxc_path": os.path.join(root, "lxc")},
        }
        self.update(**overrides)

    def update(self, **sections: dict) -> None:
        for section, values in sections.items():
            self.options.setdefault(section, {}).update(values)
        with open(os.path.join(self.confdir, "mailserver"), "w") as handle:
            handle.write(uci_text(self.options))

    @property
    def settings(self):
        from secumail.config import load_settings

        return load_settings(self.confdir, os.path.join(self.root, "uci-save"))

    def mailctl(self, *args: str, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=REPO)
        cmd = [sys.executable, "-m", "secumail.cli", "--confdir", self.confdir, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"mailctl {' '.join(args)} failed: {result.stderr}")
        return result

    def file(self, name: str) -> str:
        return os.path.join(self.data, "ssl", name)

    def read(self, name: str) -> bytes:
        with open(self.file(name), "rb") as handle:
            return handle.read()
