"""Child processes of secumaild's inetd-style services: each accepted connection is served by a
short-lived `python -m MODULE --confdir DIR --fd N ...` worker, in its own session, so the daemon's
loop never waits for what the worker does (SFTP, a password hash)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def child_env() -> dict[str, str]:
    """Our environment, with this secumail's root first on PYTHONPATH (a checkout runs its own code)."""
    import secumail

    root = os.path.dirname(os.path.dirname(os.path.abspath(secumail.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def start_module(module: str, confdir: str, *args: str, fd: int | None = None) -> subprocess.Popen:
    """`python -m module --confdir confdir [--fd fd] args...` in a new session; OSError when it cannot start."""
    argv = [sys.executable, "-m", module, "--confdir", confdir]
    if fd is not None:
        argv += ["--fd", str(fd)]
    return subprocess.Popen([*argv, *args], stdin=subprocess.DEVNULL, pass_fds=() if fd is None else (fd,),
                            env=child_env(), close_fds=True, start_new_session=True)  # fmt: skip


def terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the worker's process group, SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
