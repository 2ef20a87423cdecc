"""Issue 13: a repository that heals after a kill, KDF limits on key slots, symlinks in backup and restore."""

import base64
import glob
import json
import os
import signal
import subprocess
import sys
import time

from .conftest import tree_state


def _mailctl_env(node):
    return dict(os.environ, SECUMAIL_CONFDIR=str(node.conf), SECUMAIL_SAVEDIR=str(node.root / "save"))


def test_verify_ignores_a_pack_left_half_written_by_kill_9(node):
    node.fill(messages=1500, seed=3)
    proc = subprocess.Popen([sys.executable, "-m", "secumail.cli", "mesh", "backup"], env=_mailctl_env(node),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    data = node.data / "backup" / "repo" / "data"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if glob.glob(str(data / "*" / "*")) and glob.glob(str(data / ".tmp-pack-*")):
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert glob.glob(str(data / ".tmp-pack-*")), "no pack was being written when killed"
    assert glob.glob(str(data / "*" / "*")), "the backup was killed before any pack landed"
    code, out, err = node("mesh", "verify")
    assert code == 0, err
    assert "Traceback" not in err
    done = node.ok("mesh", "backup")
    assert done["files"] >= 1500
    assert glob.glob(str(data / ".tmp-pack-*")) == []  # the next writer deleted the leftover
    assert node.ok("mesh", "verify")["snapshots"] == 1
