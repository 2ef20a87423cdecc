"""Run the rpcd plugin luci.mailserver exactly as rpcd does: `PLUGIN list`, `PLUGIN call M` with JSON on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
APP = os.path.join(REPO, "luci-app")
PLUGIN = os.path.join(APP, "root", "usr", "libexec", "rpcd", "luci.mailserver")
ACL = os.path.join(APP, "root", "usr", "share", "rpcd", "acl.d", "luci-app-secumail.json")
MENU = os.path.join(APP, "root", "usr", "share", "luci", "menu.d", "luci-app-secumail.json")
RESOURCES = os.path.join(APP, "htdocs", "luci-static", "resources")
VIEWS = os.path.join(RESOURCES, "view", "mailserver")


@dataclass
class Reply:
    data: dict
    seconds: float
    raw: str
    stderr: str


class Plugin:
    """The plugin as rpcd sees it: a program, its stdout parsed as one JSON object."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *argv: str, stdin: str = "") -> Reply:
        start = time.monotonic()
        proc = subprocess.run([PLUGIN, *argv], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=60, check=False)
        seconds = time.monotonic() - start
        assert proc.returncode == 0, f"plugin exited {proc.returncode}: {proc.stderr}"
        data = json.loads(proc.stdout)  # must be exactly one JSON document
        assert isinstance(data, dict), f"a ubus reply must be a JSON object, got {proc.stdout!r}"
        return Reply(data, seconds, proc.stdout, proc.stderr)

    def list(self) -> dict:
        return self.run("list").data

    def call(self, method: str, args: dict | str | None = None) -> Reply:
        stdin = args if isinstance(args, str) else json.dumps(args or {})
        return self.run("call", method, stdin=stdin)


@pytest.fixture
def world(tmp_path):
    """A UCI dir whose data_path and lxc_path are in tmp, and a mailctl wrapper that records its argv."""
    conf = tmp_path / "config"
    conf.mkdir()
    data = tmp_path / "data"
    (conf / "mailserver").write_text(
        f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{data}'\n"
        f"\nconfig dkim 'dkim'\n\toption key_bits '1024'\n"
        f"\nconfig container 'container'\n\toption lxc_path '{tmp_path / 'lxc'}'\n"
    )
    argv_log = tmp_path / "mailctl-argv.log"
    # in a directory of its own: the script's dir is sys.path[0] (a dir named 'uci' there would shadow pyuci)
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "mailctl"
    # records every argv, one JSON list a line, then runs the real mailctl of this checkout
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(argv_log)!r}, 'a') as log:\n"
        "    log.write(json.dumps(sys.argv) + '\\n')\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "from secumail.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    wrapper.chmod(0o755)
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/sbin:/usr/bin:/sbin:/bin",
        "SECUMAIL_CONFDIR": str(conf),
        "SECUMAIL_SAVEDIR": str(tmp_path / "save"),
        "SECUMAIL_RUNDIR": str(tmp_path / "run"),
        "SECUMAIL_MAILCTL": str(wrapper),
        "HOME": str(tmp_path),
    }
    plugin = Plugin(env)
    plugin.argv_log = argv_log
    plugin.data = data
    plugin.confdir = conf
    return plugin
