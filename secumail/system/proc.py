"""Run external commands: one place, no shell, secrets only on stdin.

Secrets (passwords, keys, TSIG secrets) must never be put in argv, where any
local user can read them in /proc/*/cmdline. Pass them with `input=`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from secumail.errors import CommandFailed, SecumailError


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    args: Sequence[str],
    *,
    input: str | bytes | None = None,
    check: bool = True,
    timeout: float | None = 120,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    umask: int = -1,
) -> Result:
    """Run `args` (never through a shell) and return its output as text.

    With check=True a non-zero exit raises CommandFailed carrying stderr.
    A missing program or a timeout raises SecumailError with one clear line.
    """
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            list(args),
            input=data,
            capture_output=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            stdin=None if data is not None else subprocess.DEVNULL,
            umask=umask,
        )
    except FileNotFoundError:
        raise SecumailError(f"{args[0]}: command not found (is its package installed?)") from None
    except subprocess.TimeoutExpired:
        raise SecumailError(f"{args[0]} did not finish within {timeout:.0f} s") from None
    result = Result(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )
    if check and not result.ok:
        raise CommandFailed(list(args), result.returncode, result.stderr or result.stdout)
    return result


def which(program: str) -> str | None:
    """Path of `program` on PATH (plus the sbin dirs a non-login root shell may lack)."""
    import shutil

    extra = os.pathsep.join(["/usr/sbin", "/sbin", "/usr/local/sbin"])
    return shutil.which(program, path=os.environ.get("PATH", "") + os.pathsep + extra)
