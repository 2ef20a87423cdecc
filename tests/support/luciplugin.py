"""The rpcd plugin luci.mailserver run exactly as rpcd runs it: `PLUGIN list`, `PLUGIN call M` with
JSON on stdin; and where the LuCI app's files are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from tests.support.paths import REPO

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

    def __init__(self, env: dict[str, str], prefix: tuple[str, ...] = ()) -> None:
        self.env = env
        self.prefix = prefix  # e.g. what puts it in a cgroup, as rpcd's own would be

    def run(self, *argv: str, stdin: str = "") -> Reply:
        start = time.monotonic()
        proc = subprocess.run([*self.prefix, PLUGIN, *argv], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=60, check=False)  # fmt: skip
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


def mailctl_wrapper(path: str) -> None:
    """mailctl of this checkout at `path` (rpcd finds the installed one on PATH; SECUMAIL_MAILCTL points here)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {REPO!r})\n"
                     "from secumail.cli import main\nsys.exit(main(sys.argv[1:]))\n")  # fmt: skip
    os.chmod(path, 0o700)


def appliance_env(work: str, confdir: str, image_cache: str) -> dict[str, str]:
    """The environment of the appliance's processes (secumaild, mailctl, the plugin) in a test rooted at `work`:
    this checkout's mailctl at work/bin/mailctl (written here; the plugin runs it), the test's confdir, save
    and run dirs and the shared image cache."""
    mailctl_wrapper(f"{work}/bin/mailctl")
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/sbin:/usr/bin:/sbin:/bin",
        "SECUMAIL_CONFDIR": confdir,
        "SECUMAIL_SAVEDIR": f"{work}/save",
        "SECUMAIL_RUNDIR": f"{work}/run",
        "SECUMAIL_IMAGE_CACHE": image_cache,
        "SECUMAIL_MAILCTL": f"{work}/bin/mailctl",
        "PYTHONPATH": REPO,
        "HOME": work,
    }
