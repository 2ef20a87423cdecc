"""runtime.Container over both backends without LXC: which backend is chosen, and what each makes of
the answers of liblxc (a stand-in module) or of the lxc-* programs (stand-in scripts on PATH).
The same calls against a real container: tests/integration/container/test_lxc_runtime.py."""

from __future__ import annotations

import os
import time

import pytest

from secumail.container import lxc_binding, runtime
from secumail.container.runtime import BINDING, COMMANDS, RUNNING, Container
from secumail.errors import ContainerError


class FakeLxcContainer:
    """The part of python3-lxc's Container the binding backend uses."""

    def __init__(self, name: str, lxcpath: str) -> None:
        self.state = "RUNNING"
        self.init_pid = 4242

    def get_ips(self) -> tuple[str, ...]:
        return ("10.231.0.2",)

    def get_cgroup_item(self, key: str) -> str:
        if key != "memory.limit_in_bytes":
            raise KeyError(key)
        return "134217728\n"


class FakeLxc:
    Container = FakeLxcContainer
    LXC_ATTACH_CLEAR_ENV = 1

    @staticmethod
    def attach_run_command(args: list[str]) -> int:
        return 0


STUB = """#!/bin/sh
# lxc-info / lxc-cgroup stand-in: answers like lxc 5 for a running container
case "$0" in
*lxc-cgroup) echo 134217728; exit 0;;
esac
case "$*" in
*-i*) echo 10.231.0.2;;
*-s*-p*) printf 'State:          RUNNING\\nPID:            4242\\n';;
*-s*) echo RUNNING;;
*-p*) echo 4242;;
esac
"""


@pytest.fixture(params=[BINDING, COMMANDS])
def container(request, tmp_path, monkeypatch) -> Container:
    lxcpath = tmp_path / "lxc"
    (lxcpath / "mail").mkdir(parents=True)
    (lxcpath / "mail" / "config").write_text("lxc.uts.name = mail\n")
    if request.param == BINDING:
        monkeypatch.setattr(lxc_binding, "_module", FakeLxc)
    else:
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for tool in ("lxc-info", "lxc-cgroup"):
            (bindir / tool).write_text(STUB)
            (bindir / tool).chmod(0o755)
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return Container("mail", str(lxcpath), backend=request.param)


def test_both_backends_answer_the_same(container: Container) -> None:
    assert container.state() == RUNNING
    assert container.info() == (RUNNING, 4242)
    assert container.pid() == 4242
    assert container.addresses() == ["10.231.0.2"]
    assert container.cgroup_get("memory.limit_in_bytes") == "134217728"


def test_absent_container_needs_no_backend(tmp_path) -> None:
    c = Container("mail", str(tmp_path), backend="binding")
    assert c.info() == ("ABSENT", None) and c.state() == "ABSENT"
    assert c._backend is None  # no liblxc import for a container that is not there


def test_env_var_forces_a_backend(monkeypatch) -> None:
    monkeypatch.setattr(lxc_binding, "_module", FakeLxc)
    monkeypatch.setenv(runtime.BACKEND_ENV, "commands")
    assert runtime.backend_name() == COMMANDS
    monkeypatch.setenv(runtime.BACKEND_ENV, "Binding")
    assert runtime.backend_name() == BINDING
    monkeypatch.setenv(runtime.BACKEND_ENV, "auto")
    assert runtime.backend_name() == BINDING  # auto: the binding when importable
    monkeypatch.delenv(runtime.BACKEND_ENV)
    assert runtime.backend_name() == BINDING  # unset: DEFAULT, "auto"
    assert runtime.backend_name("commands") == COMMANDS  # an explicit argument beats the env


def test_auto_falls_back_to_commands_without_python3_lxc(monkeypatch) -> None:
    monkeypatch.setattr(lxc_binding, "_module", None)
    monkeypatch.setattr(lxc_binding, "_import_error", "No module named 'lxc'")
    monkeypatch.setenv(runtime.BACKEND_ENV, "auto")
    assert runtime.backend_name() == COMMANDS
    monkeypatch.setenv(runtime.BACKEND_ENV, "binding")
    with pytest.raises(ContainerError, match="python3-lxc is not importable .*SECUMAIL_LXC_BACKEND=commands"):
        runtime.make_backend("mail", "/srv/lxc")


def test_unknown_backend_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setenv(runtime.BACKEND_ENV, "lxd")
    with pytest.raises(ContainerError, match=r"SECUMAIL_LXC_BACKEND='lxd': use auto, binding or commands"):
        runtime.backend_name()


def _spawn(argv: list[str]) -> tuple[int, int | None, int, int]:
    """A child wired like an attached process: (pid, stdin writer, stdout reader, stderr reader)."""
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        os.dup2(stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.execvp(argv[0], argv)  # noqa: S606 (fixed argv, test only)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    return pid, stdin_w, out_r, err_r


def test_communicate_streams_large_input_and_output() -> None:
    data = os.urandom(3_000_000).hex().encode()  # far more than a pipe buffer, both ways
    pid, stdin_w, out_r, err_r = _spawn(["sh", "-c", "cat; echo done >&2; exit 3"])
    res = lxc_binding._communicate(pid, stdin_w, out_r, err_r, data=data, timeout=30, program="sh")
    assert (res.returncode, res.stdout.encode(), res.stderr) == (3, data, "done\n")


def test_communicate_kills_and_reaps_at_the_deadline() -> None:
    pid, stdin_w, out_r, err_r = _spawn(["sleep", "30"])
    started = time.monotonic()
    with pytest.raises(ContainerError, match="sleep did not finish within 1 s"):
        lxc_binding._communicate(pid, stdin_w, out_r, err_r, data=b"", timeout=1, program="sleep")
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left in the agent


def test_communicate_names_a_program_that_cannot_run() -> None:
    pid, stdin_w, out_r, err_r = _spawn(["sh", "-c", "exit 127"])
    res = lxc_binding._communicate(pid, stdin_w, out_r, err_r, data=b"", timeout=10, program="postqueue")
    assert res.returncode == 127 and res.stderr == "postqueue: cannot run it in the container (not found?)\n"
