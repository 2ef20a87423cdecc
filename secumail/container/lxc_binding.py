"""The python3-lxc backend: liblxc in this process, no lxc-* program per call.

State, init pid, addresses and cgroup values are one request to the
container's monitor socket each. Two calls fork this process, and the agent
is a long-running daemon, so they are used this way:

- attach: liblxc forks, enters the container and calls a Python callable in
  the child. The callable we pass is the binding's C `attach_run_command`,
  which only execs the command, and this process is single-threaded when it
  attaches (the agent's loop is one thread, jobs are processes), so nothing
  of the parent's runs in the child but that exec. stdin/stdout/stderr are
  pipes of ours, read and written here with a deadline, as subprocess would.
- start: liblxc would fork the container's monitor from this process, and
  the monitor lives as long as the container with a copy of this process's
  memory; so start goes through lxc-start when it is installed, and in
  process (close_fds=True: no socket of ours leaks) only when it is not.

Importable on Debian (`apt-get install python3-lxc`, linked into the venv by
`make venv`) and on OpenWrt (`opkg install python3-lxc`).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import IO, Any

from secumail.container.lxc_commands import CONTAINER_UMASK
from secumail.errors import ContainerError
from secumail.system.proc import Result

NAME = "binding"

_module: ModuleType | None = None
_import_error: str | None = None


def load() -> ModuleType | None:
    """python3-lxc's C module `_lxc`, or None when it cannot be imported (reason in why_missing()).

    Its Python wrapper `lxc` adds nothing used here but costs an import of subprocess and
    a liblxc config lookup at import time: status is polled, so the C module is used directly."""
    global _module, _import_error
    if _module is None and _import_error is None:
        try:
            import _lxc  # type: ignore[import-not-found]

            if not hasattr(_lxc, "attach_run_command"):
                raise ImportError(f"{getattr(_lxc, '__file__', '_lxc')} is not python3-lxc")
            _module = _lxc
        except ImportError as exc:  # not installed, or built for another Python
            _import_error = str(exc)
    return _module


def why_missing() -> str:
    load()
    return _import_error or ""


class BindingBackend:
    """The primitives runtime.Container needs, through python3-lxc."""

    name = NAME

    def __init__(self, name: str, lxcpath: str) -> None:
        lxc = load()
        if lxc is None:
            raise ContainerError(f"python3-lxc is not importable ({why_missing()}): install python3-lxc "
                                 "or set SECUMAIL_LXC_BACKEND=commands")
        self._lxc = lxc
        self._name = name
        self._lxcpath = lxcpath
        self._handle: Any = None

    def _container(self, fresh: bool = False) -> Any:
        # A handle parses the config once; start takes a fresh one so a just-rewritten config counts.
        if fresh or self._handle is None:
            self._handle = self._lxc.Container(self._name, self._lxcpath)
        return self._handle

    def state(self) -> str:
        value = str(self._container().state or "").strip().upper()
        if not value:
            raise ContainerError(f"lxc {self._name}: no state")
        return value

    def info(self) -> tuple[str, int | None]:
        state = self.state()
        return state, self.init_pid() if state == "RUNNING" else None

    def init_pid(self) -> int | None:
        pid = self._container().init_pid
        return pid if isinstance(pid, int) and pid > 0 else None

    def start(self, timeout: float) -> str | None:
        """Through lxc-start when it is installed: liblxc's monitor is then a small process of its own.
        Started from here it is a fork of this Python process and keeps its memory for the container's
        life (26 MB RSS vs 3 MB measured, bench/RESULTS.md)."""
        from secumail.system.proc import which

        if which("lxc-start"):
            from secumail.container.lxc_commands import CommandsBackend

            return CommandsBackend(self._name, self._lxcpath).start(timeout)
        return self.start_in_process()

    def start_in_process(self) -> str | None:
        with _container_umask():
            ok = self._container(fresh=True).start(close_fds=True)
        return None if ok else "liblxc refused to start it"

    def stop(self, timeout: float) -> str | None:
        handle = self._container()
        if handle.shutdown(int(timeout)):
            return None
        # init ignored the halt signal for `timeout` s: kill, as lxc-stop -t does
        return None if handle.stop() else "liblxc could not stop it"

    def attach(self, args: Sequence[str], *, env: Mapping[str, str], input: str | bytes | None,
               timeout: float) -> Result:
        """Run `args` in the container with only `env` set; rc/stdout/stderr of the command."""
        data = input.encode() if isinstance(input, str) else input
        ours: list[int] = []  # parent ends, ours to read/write and close
        theirs: list[int] = []  # child ends, closed here once the child has them
        try:
            if data is None:
                stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                theirs.append(stdin)
                stdin_w = None
            else:
                stdin, stdin_w = os.pipe()
                theirs.append(stdin)
                ours.append(stdin_w)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            ours += [out_r, err_r]
            theirs += [out_w, err_w]
            pid = self._attach(args, env, stdin=stdin, stdout=out_w, stderr=err_w)
            for fd in theirs:
                os.close(fd)
            theirs.clear()
            ours.remove(out_r)
            ours.remove(err_r)
            if stdin_w is not None:
                ours.remove(stdin_w)
            return _communicate(pid, stdin_w, out_r, err_r, data=data or b"", timeout=timeout, program=args[0])
        finally:
            for fd in ours + theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _attach(self, args: Sequence[str], env: Mapping[str, str], *, stdin: int, stdout: int, stderr: int) -> int:
        """Start `args` in the container on these descriptors; its pid (our child). The child runs only the
        binding's C function (execvp), no Python code of ours."""
        lxc = self._lxc
        with _container_umask():
            pid = self._container().attach(
                lxc.attach_run_command, (args[0], list(args)),
                env_policy=lxc.LXC_ATTACH_CLEAR_ENV,
                extra_env_vars=[f"{key}={value}" for key, value in env.items()],
                stdin=stdin, stdout=stdout, stderr=stderr,
            )  # fmt: skip
        if pid <= 0:
            raise ContainerError(f"lxc attach {self._name}: could not enter the container (is it running?)")
        return pid

    def spawn(self, args: Sequence[str], *, env: Mapping[str, str], stderr: IO[bytes] | None) -> Attached:
        """`args` in the container with pipes on stdin and stdout, read and written by the caller."""
        theirs: list[int] = []
        ours: list[int] = []
        try:
            stdin_r, stdin_w = os.pipe()
            out_r, out_w = os.pipe()
            theirs += [stdin_r, out_w]
            ours += [stdin_w, out_r]
            if stderr is not None:
                err = stderr.fileno()
            else:
                err = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
                theirs.append(err)
            for fd in ours:
                os.set_inheritable(fd, False)
            pid = self._attach(args, env, stdin=stdin_r, stdout=out_w, stderr=err)
            process = Attached(pid, os.fdopen(stdin_w, "wb"), os.fdopen(out_r, "rb"))
            ours.clear()
            return process
        finally:
            for fd in theirs + ours:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def cgroup_get(self, key: str) -> str:
        try:
            return str(self._container().get_cgroup_item(key)).strip()
        except KeyError:
            raise ContainerError(f"lxc {self._name}: no cgroup value {key}") from None

    def addresses(self) -> list[str]:
        return list(self._container().get_ips())


class Attached:
    """A spawned command (our child: liblxc attaches with CLONE_PARENT), as much of subprocess.Popen as
    runtime.Process names."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            deadline = time.monotonic() + (timeout if timeout is not None else 10**9)
            try:
                self.returncode = os.waitstatus_to_exitcode(_reap(self.pid, deadline))
            except TimeoutError:
                import subprocess

                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0) from None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _communicate(pid: int, stdin_w: int | None, out_r: int, err_r: int, *, data: bytes, timeout: float,
                 program: str) -> Result:
    """Feed stdin, collect stdout/stderr and reap `pid` (our child: liblxc attaches with CLONE_PARENT),
    all within `timeout`; kill it when the time is up."""
    deadline = time.monotonic() + timeout
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    view = memoryview(data)
    status: int | None = None
    try:
        with selectors.DefaultSelector() as sel:
            for fd in (out_r, err_r):
                sel.register(fd, selectors.EVENT_READ)
            if stdin_w is not None:
                if view:
                    os.set_blocking(stdin_w, False)
                    sel.register(stdin_w, selectors.EVENT_WRITE)
                else:
                    os.close(stdin_w)
                    stdin_w = None
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                for key, _mask in sel.select(left):
                    fd = key.fd
                    if fd == stdin_w:
                        try:
                            view = view[os.write(fd, view[:65536]):]
                        except BrokenPipeError:
                            view = view[:0]
                        if not view:
                            sel.unregister(fd)
                            os.close(fd)
                            stdin_w = None
                        continue
                    block = os.read(fd, 65536)
                    if block:
                        chunks[fd].append(block)
                    else:
                        sel.unregister(fd)
        status = _reap(pid, deadline)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise ContainerError(f"{program} did not finish within {timeout:.0f} s") from None
    finally:
        if stdin_w is not None:
            os.close(stdin_w)
        os.close(out_r)
        os.close(err_r)
    code = os.waitstatus_to_exitcode(status)
    stderr = b"".join(chunks[err_r]).decode("utf-8", "replace")
    if code == 127 and not stderr:  # liblxc logs the failed exec to its log, not to our pipe
        stderr = f"{program}: cannot run it in the container (not found?)\n"
    return Result(code, b"".join(chunks[out_r]).decode("utf-8", "replace"), stderr)


def _reap(pid: int, deadline: float) -> int:
    """Wait status of `pid`; TimeoutError past `deadline` (the output is closed but it still runs)."""
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def _container_umask() -> Iterator[None]:
    """CONTAINER_UMASK for what liblxc forks from this process. The umask is the process's, so other
    threads see it for this moment too; harmless, since secret files get their mode explicitly."""
    old = os.umask(CONTAINER_UMASK)
    try:
        yield
    finally:
        os.umask(old)
