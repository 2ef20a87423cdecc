"""The lxc-* commands backend: one lxc-info/lxc-start/lxc-attach process per call.

Works wherever the lxc package is installed (OpenWrt's `lxc` meta-package
pulls in the lxc-* tools); runtime.Container uses it when python3-lxc is not
importable or SECUMAIL_LXC_BACKEND=commands. Facts it works around:

- `lxc-start -d` on a running container exits 0 (Container.start checks the
  state itself and then waits for RUNNING).
- `lxc-* -P` needs an absolute path (Container checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from secumail.errors import ContainerError, SecumailError
from secumail.system.proc import Result, run, which

NAME = "commands"
# What the lxc-* processes (and so the container's processes) start with, whatever ours is: liblxc makes
# the bind mounts' targets (create=dir) under it, and secumaild started by rpcd runs with umask 077,
# which left /srv/mailserver 0700 and Dovecot unable to read its account files.
CONTAINER_UMASK = 0o022


class CommandsBackend:
    """The primitives runtime.Container needs, through the lxc-* programs."""

    name = NAME

    def __init__(self, name: str, lxcpath: str) -> None:
        self._name = name
        self._lxcpath = lxcpath

    def _lxc(self, tool: str, *args: str, check: bool = True, timeout: float = 60,
             input: str | bytes | None = None) -> Result:
        if not which(tool):
            raise ContainerError(f"{tool} not found: install lxc (apt-get install lxc / opkg install lxc)")
        try:
            return run([tool, "-P", self._lxcpath, "-n", self._name, *args],
                       check=check, timeout=timeout, input=input, umask=CONTAINER_UMASK)
        except SecumailError as exc:
            raise ContainerError(f"{tool} {self._name}: {exc}") from None

    def state(self) -> str:
        res = self._lxc("lxc-info", "-s", "-H", check=False)
        value = res.stdout.strip().upper()
        if res.returncode != 0 or not value:
            raise ContainerError(f"lxc-info {self._name}: {(res.stderr or res.stdout).strip() or 'no state'}")
        return value.splitlines()[-1].strip()

    def info(self) -> tuple[str, int | None]:
        res = self._lxc("lxc-info", "-s", "-p", check=False)
        fields = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
        state = fields.get("State", "").strip().upper()
        if res.returncode != 0 or not state:
            raise ContainerError(f"lxc-info {self._name}: {(res.stderr or res.stdout).strip() or 'no state'}")
        pid = fields.get("PID", "").strip()
        return state, int(pid) if pid.isdigit() else None

    def init_pid(self) -> int | None:
        res = self._lxc("lxc-info", "-p", "-H", check=False)
        try:
            return int(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    def start(self, timeout: float) -> str | None:
        """Ask for a start; None when it was accepted, else the command's complaint."""
        res = self._lxc("lxc-start", "-d", check=False, timeout=timeout + 30)
        return None if res.returncode == 0 else _last_line(res)

    def stop(self, timeout: float) -> str | None:
        """Clean stop (lxc.signal.halt to init), SIGKILL after `timeout`; None when it went."""
        res = self._lxc("lxc-stop", "-t", str(int(timeout)), check=False, timeout=timeout + 30)
        return None if res.returncode == 0 else _last_line(res)

    def attach(self, args: Sequence[str], *, env: Mapping[str, str], input: str | bytes | None,
               timeout: float) -> Result:
        """Run `args` in the container with only `env` set; rc/stdout/stderr of the command."""
        opts: list[str] = ["--clear-env"]
        for key, value in env.items():
            opts += ["-v", f"{key}={value}"]
        return self._lxc("lxc-attach", *opts, "--", *args, check=False, timeout=timeout, input=input)

    def spawn(self, args: Sequence[str], *, env: Mapping[str, str], stderr: IO[bytes] | None) -> Any:
        """`args` in the container with pipes on stdin and stdout (a subprocess.Popen of lxc-attach)."""
        import subprocess

        if not which("lxc-attach"):
            raise ContainerError("lxc-attach not found: install lxc (apt-get install lxc / opkg install lxc)")
        opts: list[str] = ["--clear-env"]
        for key, value in env.items():
            opts += ["-v", f"{key}={value}"]
        try:
            return subprocess.Popen(["lxc-attach", "-P", self._lxcpath, "-n", self._name, *opts, "--", *args],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr if stderr is not None else subprocess.DEVNULL, close_fds=True,
                                    umask=CONTAINER_UMASK)
        except OSError as exc:
            raise ContainerError(f"lxc-attach {self._name}: {exc.strerror}") from None

    def cgroup_get(self, key: str) -> str:
        return self._lxc("lxc-cgroup", key).stdout.strip()

    def addresses(self) -> list[str]:
        res = self._lxc("lxc-info", "-i", "-H", check=False)
        return [line.strip() for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []


def _last_line(res: Result) -> str:
    text = (res.stderr or res.stdout).strip().splitlines()
    return text[-1] if text else f"exit {res.returncode}"
