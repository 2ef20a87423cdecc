"""The one mail container: lifecycle, state and commands inside, over two backends.

Container(name, lxcpath) is the API the rest of secumail uses. The LXC calls
themselves go through a backend with the same primitives:

- "binding": python3-lxc (liblxc in-process, secumail.container.lxc_binding);
- "commands": the lxc-* programs (secumail.container.lxc_commands).

SECUMAIL_LXC_BACKEND=binding|commands|auto picks one ("auto": the binding
when importable); unset means DEFAULT, which is "auto" (see
docs/architecture.md and bench/RESULTS.md). Failures raise ContainerError with one line.
Facts this code works around, whatever the backend:

- starting a running container succeeds: start() checks state itself and
  then waits for RUNNING.
- `lxc-destroy` (and the API's destroy) deletes the rootfs directory even
  when it lives outside the container path: destroy() never calls it; it
  removes only the container's own directory (config, log) and refuses when
  anything is mounted below it.
- lxcpath must be absolute (`lxc-* -P` ignores relative paths).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Protocol

from secumail.errors import ContainerError

if TYPE_CHECKING:  # `mailctl status` imports this module: only what state() needs is loaded at once
    from secumail.container.lxcconf import ContainerSpec
    from secumail.system.proc import Result

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ABSENT = "ABSENT"
STOPPED = "STOPPED"
RUNNING = "RUNNING"

BACKEND_ENV = "SECUMAIL_LXC_BACKEND"
BINDING = "binding"
COMMANDS = "commands"
AUTO = "auto"
# The binding when python3-lxc is importable (bench/RESULTS.md, status-backends: faster status and
# commands inside for 0.8 MiB agent PSS; its start still runs lxc-start's small monitor).
DEFAULT = AUTO


class Backend(Protocol):
    """What a backend does for Container (lxc_binding.BindingBackend, lxc_commands.CommandsBackend)."""

    name: str

    def state(self) -> str: ...
    def info(self) -> tuple[str, int | None]: ...
    def init_pid(self) -> int | None: ...
    def start(self, timeout: float) -> str | None: ...
    def stop(self, timeout: float) -> str | None: ...
    def attach(self, args: Sequence[str], *, env: Mapping[str, str], input: str | bytes | None,
               timeout: float) -> Result: ...
    def spawn(self, args: Sequence[str], *, env: Mapping[str, str], stderr: IO[bytes] | None) -> Process: ...
    def cgroup_get(self, key: str) -> str: ...
    def addresses(self) -> list[str]: ...


class Process(Protocol):
    """A command running in the container with our pipes on its stdin and stdout (subprocess.Popen's
    names): a conversation, such as an IMAP session, rather than one exchange."""

    pid: int
    stdin: IO[bytes]
    stdout: IO[bytes]

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


def backend_name(wanted: str | None = None) -> str:
    """"binding" or "commands": `wanted`, else $SECUMAIL_LXC_BACKEND, else DEFAULT;
    "auto" is the binding when python3-lxc is importable."""
    choice = (wanted or os.environ.get(BACKEND_ENV) or DEFAULT).strip().lower()
    if choice == AUTO:
        from secumail.container import lxc_binding

        return BINDING if lxc_binding.load() is not None else COMMANDS
    if choice not in (BINDING, COMMANDS):
        raise ContainerError(f"{BACKEND_ENV}={choice!r}: use {AUTO}, {BINDING} or {COMMANDS}")
    return choice


def make_backend(name: str, lxcpath: str, backend: str | None = None) -> Backend:
    if backend_name(backend) == BINDING:
        from secumail.container.lxc_binding import BindingBackend

        return BindingBackend(name, lxcpath)
    from secumail.container.lxc_commands import CommandsBackend

    return CommandsBackend(name, lxcpath)


class Container:
    """One LXC container, addressed by (lxcpath, name)."""

    def __init__(self, name: str, lxcpath: str, *, backend: str | None = None) -> None:
        """`backend`: "binding", "commands" or "auto"; None reads $SECUMAIL_LXC_BACKEND."""
        if not os.path.isabs(lxcpath):
            raise ContainerError(f"lxcpath {lxcpath!r} must be absolute (lxc-* -P ignores relative paths)")
        self.name = name
        self.lxcpath = lxcpath
        self._wanted = backend
        self._backend: Backend | None = None

    @classmethod
    def from_spec(cls, spec: ContainerSpec, *, backend: str | None = None) -> Container:
        return cls(spec.name, spec.lxcpath, backend=backend)

    def __repr__(self) -> str:
        return f"Container({self.name!r}, {self.lxcpath!r})"

    @property
    def backend(self) -> Backend:
        """Chosen on first use, so a Container for a path check costs no import of liblxc."""
        if self._backend is None:
            self._backend = make_backend(self.name, self.lxcpath, self._wanted)
        return self._backend

    # -- paths -------------------------------------------------------------

    @property
    def directory(self) -> str:
        return os.path.join(self.lxcpath, self.name)

    @property
    def config_path(self) -> str:
        return os.path.join(self.directory, "config")

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, "lxc.log")

    # -- lifecycle ---------------------------------------------------------

    def define(self, spec: ContainerSpec, cgroup_version: int | None = None) -> str:
        """Write the container's config from `spec` (creating the container if new).

        A running container picks the new config up on its next start.
        Returns the config path.
        """
        from secumail.container.lxcconf import render, seccomp_policy
        from secumail.system.files import atomic_write

        if (spec.name, spec.lxcpath) != (self.name, self.lxcpath):
            raise ContainerError(f"spec is for {spec.lxcpath}/{spec.name}, not {self.directory}")
        if not os.path.isdir(spec.rootfs):
            raise ContainerError(f"rootfs {spec.rootfs} does not exist: build or import the image first")
        if spec.idmap is not None and os.stat(spec.rootfs).st_uid != spec.idmap.uid(0):
            raise ContainerError(f"rootfs {spec.rootfs} is not owned by the container's root "
                                 f"(uid {spec.idmap.uid(0)}): shift it first (secumail.container.idmap)")
        text = render(spec, cgroup_version)
        os.makedirs(self.directory, mode=0o750, exist_ok=True)
        # The container dir is the path LXC walks as the mapped root: it must be able to pass through.
        os.chmod(self.directory, 0o755 if spec.idmap is not None else 0o750)
        if spec.seccomp:
            atomic_write(spec.seccomp_path, seccomp_policy(), mode=0o644)
        atomic_write(self.config_path, text, mode=0o640)
        return self.config_path

    def exists(self) -> bool:
        return os.path.isfile(self.config_path)

    def state(self) -> str:
        """RUNNING, STOPPED, STARTING, STOPPING, ... or ABSENT when not defined."""
        if not self.exists():
            return ABSENT
        return self.backend.state()

    def info(self) -> tuple[str, int | None]:
        """(state, init pid) in one backend call: what `mailctl status` polls."""
        if not self.exists():
            return ABSENT, None
        return self.backend.info()

    def running(self) -> bool:
        return self.state() == RUNNING

    def pid(self) -> int | None:
        """PID (host namespace) of the container's init, None when not running."""
        if not self.running():
            return None
        return self.backend.init_pid()

    def addresses(self) -> list[str]:
        """The container's IP addresses (empty when not running)."""
        if not self.running():
            return []
        return self.backend.addresses()

    def start(self, timeout: float = 30) -> bool:
        """Start and wait until RUNNING. Idempotent: returns False when it was already running."""
        current = self.state()
        if current == ABSENT:
            raise ContainerError(f"container {self.name} is not defined in {self.lxcpath}")
        if current == RUNNING:
            return False
        log_from = _size(self.log_path)
        complaint = self.backend.start(timeout)
        if complaint is not None:
            raise ContainerError(f"container {self.name} failed to start: {self._why(complaint, log_from)}")
        self._wait(RUNNING, timeout)
        return True

    def stop(self, timeout: float = 30) -> bool:
        """Clean stop (SIGTERM to init, SIGKILL after `timeout`). False when not running."""
        current = self.state()
        if current in (ABSENT, STOPPED):
            return False
        log_from = _size(self.log_path)
        complaint = self.backend.stop(timeout)
        if complaint is not None and self.state() != STOPPED:
            raise ContainerError(f"container {self.name} did not stop: {self._why(complaint, log_from)}")
        self._wait(STOPPED, timeout)
        return True

    def restart(self, timeout: float = 30) -> None:
        self.stop(timeout)
        self.start(timeout)

    def destroy(self, timeout: float = 30) -> bool:
        """Stop and forget the container: remove its own directory only.

        The rootfs (an image dir outside the container dir) is never touched:
        lxc-destroy would delete it, so we do not call lxc-destroy.
        Returns False when the container did not exist.
        """
        if not os.path.isdir(self.directory):
            return False
        if self.exists():
            self.stop(timeout)
        mounted = _mounts_below(self.directory)
        if mounted:
            raise ContainerError(f"refusing to remove {self.directory}: {mounted[0]} is mounted below it")
        import shutil

        shutil.rmtree(self.directory)
        return True

    # -- inside ------------------------------------------------------------

    def exec(
        self,
        args: Sequence[str],
        *,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        check: bool = False,
        daemon: bool = False,
    ) -> Result:
        """Run `args` inside the running container; returns rc/stdout/stderr.

        Secrets go in `input` (stdin), never in args. The environment is
        cleared: only PATH, LC_ALL=C, HOME and `env` are set.
        daemon=True is for commands that fork a background server (dovecot,
        opendkim): such a child inherits our stdout/stderr pipes and keeps them
        open forever, so the output goes through a file inside the container.
        """
        if not args:
            raise ContainerError("exec: empty command")
        if daemon:
            args = ["/bin/sh", "-c", _DAEMON_WRAPPER, "secumail-exec", *args]
        variables = {"PATH": DEFAULT_PATH, "LC_ALL": "C", "HOME": "/root"}
        variables.update(env or {})
        try:
            res = self.backend.attach(args, env=variables, input=input, timeout=timeout)
        except ContainerError as exc:
            if "did not finish" in str(exc) and not daemon:
                raise ContainerError(
                    f"{exc} (if {args[0]} forks a daemon, run it with exec(..., daemon=True))"
                ) from None
            raise
        if check and res.returncode != 0:
            detail = (res.stderr or res.stdout).strip().splitlines()
            raise ContainerError(
                f"in container {self.name}, {args[0]} exited with {res.returncode}: "
                f"{detail[-1] if detail else 'no output'}"
            )
        return res

    def spawn(self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
              stderr: IO[bytes] | None = None) -> Process:  # fmt: skip
        """Start `args` inside the running container and return it with pipes to its stdin and stdout
        (the caller talks to it, then closes stdin and waits). Environment as exec(); `stderr` is a
        file of the caller's (never a pipe nobody reads), or /dev/null."""
        if not args:
            raise ContainerError("spawn: empty command")
        variables = {"PATH": DEFAULT_PATH, "LC_ALL": "C", "HOME": "/root"}
        variables.update(env or {})
        return self.backend.spawn(list(args), env=variables, stderr=stderr)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Write `data` to `path` inside the container through stdin (never argv),
        via a temp file and rename, so readers never see half a file."""
        script = 'umask 077; t="$1.tmp.$$"; cat > "$t" && chmod "$2" "$t" && mv -f "$t" "$1"'
        self.exec(["/bin/sh", "-c", script, "secumail-write", path, f"{mode:o}"], input=data, check=True)

    def read_file(self, path: str) -> str:
        """Text of `path` inside the container."""
        return self.exec(["cat", "--", path], check=True).stdout

    def cgroup_get(self, key: str) -> str:
        """Read a cgroup value of the running container (e.g. memory.limit_in_bytes)."""
        return self.backend.cgroup_get(key)

    # -- helpers -----------------------------------------------------------

    def _wait(self, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        current = self.state()
        while current != wanted:
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"container {self.name} is {current}, not {wanted}, after {timeout:.0f} s"
                    f" (see {self.log_path})"
                )
            time.sleep(0.1)
            current = self.state()

    def _why(self, complaint: str, log_from: int = 0) -> str:
        """The most useful line: the first ERROR this attempt wrote to the LXC log,
        else the backend's complaint."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                handle.seek(log_from)
                lines = handle.readlines()
        except OSError:
            lines = []
        errors = [line.strip() for line in lines if " ERROR " in line]
        if errors:
            return errors[0].split(" - ", 1)[-1] + f" (see {self.log_path})"
        return complaint


# Run "$@" with stdio on a temp file, then show that file: the forked daemon
# keeps the file open, not lxc-attach's pipes.
_DAEMON_WRAPPER = (
    'out=$(mktemp) || exit 125; "$@" </dev/null >"$out" 2>&1; rc=$?; '
    'cat "$out" >&2; rm -f "$out"; exit $rc'
)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _mounts_below(directory: str) -> list[str]:
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix) or point == prefix.rstrip("/"):
                    found.append(point)
    except OSError:
        pass
    return found
