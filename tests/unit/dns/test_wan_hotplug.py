"""files/etc/hotplug.d/iface/95-secumail: the WAN came up or changed → SIGUSR1 to secumaild."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.support.paths import REPO

HOOK = os.path.join(REPO, "files/etc/hotplug.d/iface/95-secumail")
SHELLS = [s for s in ("sh", "busybox") if shutil.which(s)]
# Stands in for secumaild: its argv says secumail, it notes each SIGUSR1 in a file.
FAKE_DAEMON = """
import signal, sys, time
out = sys.argv[1]
signal.signal(signal.SIGUSR1, lambda *a: open(out, "a").write("USR1\\n"))
open(out + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_parses(shell):
    args = [shell, "-n", HOOK] if shell == "sh" else [shell, "sh", "-n", HOOK]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def daemon(tmp_path):
    notes = tmp_path / "signals"
    proc = subprocess.Popen([sys.executable, "-c", FAKE_DAEMON, str(notes), "secumail"])
    deadline = time.monotonic() + 10
    while not (tmp_path / "signals.ready").exists():
        assert time.monotonic() < deadline, "the fake daemon did not start"
        time.sleep(0.02)
    rundir = tmp_path / "run"
    rundir.mkdir()
    (rundir / "secumaild.pid").write_text(f"{proc.pid}\n")
    yield proc, notes, rundir
    proc.kill()
    proc.wait()


def run_hook(tmp_path, rundir, *, action: str, interface: str, follow: str = "1", wan: str = "") -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    syslog = tmp_path / "syslog"
    (bin_dir / "uci").write_text(
        '#!/bin/sh\ncase "$*" in\n'
        f'  "-q get mailserver.dns.follow_wan") echo {follow};;\n'
        f'  "-q get mailserver.dns.wan_interface") [ -n "{wan}" ] && echo {wan};;\n'
        "esac\nexit 0\n"
    )
    (bin_dir / "logger").write_text(f'#!/bin/sh\necho "$*" >> {syslog}\n')
    for name in ("uci", "logger"):
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ACTION": action, "INTERFACE": interface,
           "SECUMAIL_RUNDIR": str(rundir)}  # fmt: skip
    result = subprocess.run(["sh", "-c", f'( . "{HOOK}" ); echo "after $?"'], env=env, capture_output=True, text=True)
    assert result.stdout.strip().endswith("after 0"), (result.stdout, result.stderr)  # never fails hotplug-call
    assert result.stderr == ""
    return syslog.read_text() if syslog.exists() else ""


def _signals(notes, expect: int) -> int:
    deadline = time.monotonic() + (3 if expect else 0.3)
    count = 0
    while time.monotonic() < deadline:
        count = len(notes.read_text().splitlines()) if notes.exists() else 0
        if expect and count >= expect:
            break
        time.sleep(0.02)
    return count


@pytest.mark.parametrize("action", ["ifup", "ifupdate"])
def test_wan_up_or_changed_signals_the_daemon(tmp_path, daemon, action):
    _proc, notes, rundir = daemon
    syslog = run_hook(tmp_path, rundir, action=action, interface="wan")
    assert _signals(notes, 1) == 1
    assert f"-t secumail -p mail.info wan {action}: secumaild checks the public address" in syslog


def test_the_configured_interface_is_the_one_watched(tmp_path, daemon):
    _proc, notes, rundir = daemon
    run_hook(tmp_path, rundir, action="ifup", interface="wan", wan="wanb")
    assert _signals(notes, 0) == 0
    run_hook(tmp_path, rundir, action="ifup", interface="wanb", wan="wanb")
    assert _signals(notes, 1) == 1


@pytest.mark.parametrize(("action", "interface", "follow"),
                         [("ifdown", "wan", "1"), ("ifup", "lan", "1"), ("ifup", "wan", "0"), ("ifup", "wan", "")])
def test_nothing_happens_otherwise(tmp_path, daemon, action, interface, follow):
    _proc, notes, rundir = daemon
    assert run_hook(tmp_path, rundir, action=action, interface=interface, follow=follow) == ""
    assert _signals(notes, 0) == 0


def test_a_stale_pid_file_signals_nobody(tmp_path):
    rundir = tmp_path / "run"
    rundir.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])  # alive, but not secumaild
    try:
        (rundir / "secumaild.pid").write_text(f"{sleeper.pid}\n")
        assert run_hook(tmp_path, rundir, action="ifup", interface="wan") == ""
        assert sleeper.poll() is None  # SIGUSR1 would have killed it
    finally:
        sleeper.kill()
        sleeper.wait()
    (rundir / "secumaild.pid").write_text("not a pid\n")
    assert run_hook(tmp_path, rundir, action="ifup", interface="wan") == ""
    (rundir / "secumaild.pid").unlink()
    assert run_hook(tmp_path, rundir, action="ifup", interface="wan") == ""
