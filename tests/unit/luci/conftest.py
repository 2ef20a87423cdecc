"""The plugin tests' world: a UCI dir in tmp and a mailctl that records its argv (the plugin runner is
tests/support/luciplugin.py)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.luciplugin import Plugin
from tests.support.paths import REPO


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
