"""The plugin tests' world: a UCI dir in tmp and a mailctl that records its argv (the plugin runner is
tests/support/luciplugin.py)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.luciplugin import Plugin
from tests.support.paths import REPO
from tests.support.settings import write_small_config


@pytest.fixture
def world(tmp_path):
    """A UCI dir whose data_path and lxc_path are in tmp, and a mailctl wrapper that records its argv."""
    conf, data = write_small_config(tmp_path)
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
