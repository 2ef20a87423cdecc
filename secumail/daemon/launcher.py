"""Start and stop secumaild: through procd's init script on OpenWrt, directly elsewhere.

`mailctl start|stop|restart` call these (stdlib only; they do not import the
daemon). On OpenWrt `/etc/init.d/mailserver start` hands the daemon to procd,
which respawns it and sends SIGHUP on `uci commit mailserver`. On a host
without procd (the Debian test host) the daemon is started detached in its own
session, logging to syslog or to `$SECUMAIL_RUNDIR/secumaild.log`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from secumail.daemon import paths
from secumail.errors import SecumailError

INIT_SCRIPT = "/etc/init.d/mailserver"


def procd_available() -> bool:
    """True on OpenWrt: rc.common, procd and our init script are all there."""
    return (
        os.path.exists("/etc/rc.common")
        and os.path.exists("/sbin/procd")
        and os.access(INIT_SCRIPT, os.X_OK)
    )


def daemon_info(timeout: float = 3.0) -> dict[str, Any] | None:
    """The running daemon's `daemon.info`, or None when none answers."""
    from secumail.daemon.client import DaemonNotRunning, call

    try:
        return call("daemon.info", timeout=timeout)
    except DaemonNotRunning:
        return None


def ensure_daemon_running(confdir: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
    """Start secumaild unless it already answers; return its daemon.info. SecumailError if it does not come up."""
    info = daemon_info()
    if info is not None:
        return info
    log = None
    if procd_available():
        from secumail.system.proc import run

        run([INIT_SCRIPT, "start"], timeout=60)
    else:
        log = _spawn(confdir)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = daemon_info(timeout=2.0)
        if info is not None:
            return info
        time.sleep(0.1)
    where = f" (see {log})" if log else " (see 'logread -e secumaild')"
    raise SecumailError(f"secumaild did not answer within {timeout:.0f} s{where}")


def _spawn(confdir: str | None) -> str:
    import subprocess

    import secumail

    os.makedirs(paths.rundir(), mode=0o700, exist_ok=True)
    log = os.path.join(paths.rundir(), "secumaild.log")
    root = os.path.dirname(os.path.dirname(os.path.abspath(secumail.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "secumail.daemon", "--foreground"]
    if confdir:
        argv += ["--confdir", os.path.abspath(confdir)]
    if not os.path.exists("/dev/log"):
        argv.append("--stderr")
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=out, env=env, close_fds=True,
                         start_new_session=True)  # fmt: skip
    return log


def _pid() -> int | None:
    try:
        with open(paths.pid_path(), encoding="ascii") as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """True when `pid` is a live secumaild (a stale pid file may name some other process)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            if handle.read().rsplit(")", 1)[-1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"secumail" in handle.read()
    except OSError:
        return False


def stop_daemon(timeout: float = 30.0) -> bool:
    """Stop secumaild (its workers get SIGTERM too). False when it was not running."""
    if procd_available():
        from secumail.system.proc import run

        was = daemon_info() is not None
        run([INIT_SCRIPT, "stop"], timeout=timeout + 30)
        return was
    pid = _pid()
    if pid is None or not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def reload_daemon() -> bool:
    """Make the daemon re-read UCI (SIGHUP). False when it is not running."""
    if procd_available():
        from secumail.system.proc import run

        run([INIT_SCRIPT, "reload"], timeout=60)
        return True
    pid = _pid()
    if pid is None or not _alive(pid):
        return False
    os.kill(pid, signal.SIGHUP)
    return True
