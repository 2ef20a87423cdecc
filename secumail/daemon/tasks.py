"""What each job does, in the worker process (here heavy imports are fine: the worker exits).

Most jobs are the mailctl command of the same meaning run in-process, so a job
started from LuCI does exactly what the shell command does: `args` become its
options (`{"domain": "example.org", "dry_run": true}` → `example.org --dry-run`).
The others (ssl-renew, configure, container-up/down) call the library directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import sys
from typing import Any, Callable

from secumail.errors import InputError, NotAvailable, SecumailError


@dataclasses.dataclass
class TaskContext:
    name: str
    args: dict[str, Any]
    confdir: str | None
    stdin: str | None
    progress: Callable[[str, int | None], None]
    _settings: Any = None

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from secumail.config import load_settings

            self._settings = load_settings(self.confdir)
        return self._settings


class ReportedProblems(SecumailError):
    """The command ran and returned data that says something is wrong (dns-check drift, conflicts)."""

    def __init__(self, message: str, data: Any) -> None:
        super().__init__(message)
        self.data = data


@dataclasses.dataclass(frozen=True)
class CliJob:
    argv: tuple[str, ...]
    positional: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()  # (args key, option name)
    stdin_flag: str | None = None  # option that makes the command read `stdin`
    defaults: tuple[tuple[str, Any], ...] = ()


CLI_JOBS: dict[str, CliJob] = {
    "install": CliJob(("install",)),
    # mailctl start/stop also set main.enabled, so the reconcile loop agrees afterwards (LuCI buttons)
    "start": CliJob(("start",)),
    "stop": CliJob(("stop",)),
    # a domain change re-renders and reloads the whole mail config (seconds): too slow for one rpcd call
    "domain-add": CliJob(("domain", "add"), positional=("domain",)),
    "domain-del": CliJob(("domain", "del"), positional=("domain",)),
    "ssl-setup": CliJob(("ssl-setup",)),
    "dns-setup": CliJob(("dns-setup",), positional=("domain",)),
    "dns-check": CliJob(("dns-check",), positional=("domain",)),
    "backup": CliJob(("mesh", "backup")),
    "sync": CliJob(("mesh", "sync"), positional=("direction",), defaults=(("direction", "push"),)),
    "restore": CliJob(("mesh", "restore"), positional=("source",), rename=(("from_node", "from"),),
                      stdin_flag="recovery_key_stdin"),  # fmt: skip
}


def cli_argv(name: str, args: dict[str, Any], has_stdin: bool = False) -> list[str]:
    """The mailctl argv for job `name` with `args` (InputError on a malformed value)."""
    spec = CLI_JOBS[name]
    values = dict(spec.defaults)
    values.update(args)
    if has_stdin and spec.stdin_flag:
        values[spec.stdin_flag] = True
    argv = list(spec.argv)
    renames = dict(spec.rename)
    for key in spec.positional:
        value = values.pop(key, None)
        if value is not None:
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise InputError(f"{name}: argument {key!r} must be a string")
            argv.append(str(value))
    for key, value in values.items():
        if not isinstance(key, str) or not key.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"{name}: {key!r} is not an argument name")
        option = "--" + renames.get(key, key).replace("_", "-")
        if value is True:
            argv.append(option)
        elif value is False or value is None:
            continue
        elif isinstance(value, (str, int, float)):
            argv.extend([option, str(value)])
        else:
            raise InputError(f"{name}: argument {key!r} must be a string, number or boolean")
    return argv


def run_cli(ctx: TaskContext) -> Any:
    from secumail.cli import build_parser
    from secumail.cli.base import Context, Failed

    argv = cli_argv(ctx.name, ctx.args, ctx.stdin is not None)
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        raise NotAvailable(f"mailctl {' '.join(argv)}")
    ctx.progress(f"mailctl {' '.join(argv)}", None)
    saved = sys.stdin
    sys.stdin = io.StringIO(ctx.stdin or "")
    try:
        data = handler(Context(confdir=ctx.confdir, json=True), args)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("secumail."):
            raise
        # A feature module that has not landed yet (e.g. mesh transport): say so, do not crash.
        raise NotAvailable(f"{ctx.name} ({exc.name})") from None
    finally:
        sys.stdin = saved
    if isinstance(data, Failed):
        raise ReportedProblems(f"mailctl {argv[0]} reported problems (see the job result)", data.data)
    return data


def ssl_renew(ctx: TaskContext) -> Any:
    from secumail.certs.renewal import renew_if_due

    outcome = renew_if_due(ctx.settings)
    data = _plain(outcome)
    if data.get("action") == "failed":
        raise ReportedProblems(f"certificate renewal failed: {data.get('error') or data.get('message')}", data)
    return data


def configure(ctx: TaskContext) -> Any:
    """Render Postfix/Dovecot/OpenDKIM config from the current UCI, check, swap, reload."""
    try:
        from secumail.mail import deploy
        from secumail.mail.runtime_bridge import running_executor
    except ImportError:
        raise NotAvailable("configure (rendering the mail configuration)") from None
    ctx.progress("rendering the mail configuration", None)
    return deploy.deploy(ctx.settings, running_executor(ctx.settings))


def container_up(ctx: TaskContext) -> Any:
    from secumail.container import service

    return _plain(service.start(ctx.settings, lambda line: ctx.progress(line, None)))


def container_down(ctx: TaskContext) -> Any:
    from secumail.container import service

    return _plain(service.stop(ctx.settings))


def _mesh_progress(ctx: TaskContext) -> Callable[[dict[str, Any]], None]:
    def report(facts: dict[str, Any]) -> None:
        percent = facts.get("percent")
        ctx.progress(", ".join(f"{k} {v}" for k, v in facts.items() if k != "percent"),
                     percent if isinstance(percent, int) else None)  # fmt: skip

    return report


def mesh_backup(ctx: TaskContext) -> Any:
    """The scheduled backup (secumail.mesh.backup_and_sync; the API job `backup` is `mailctl mesh backup`)."""
    from secumail.mesh.backup_and_sync import run_backup

    return run_backup(ctx.settings, progress=_mesh_progress(ctx), confdir=ctx.confdir)


def mesh_sync(ctx: TaskContext) -> Any:
    from secumail.mesh.backup_and_sync import run_sync

    direction = str(ctx.args.get("direction", "both"))
    only = ctx.args.get("peer")
    return run_sync(ctx.settings, direction, progress=_mesh_progress(ctx), only=str(only) if only else None)


# Test hooks: only with SECUMAIL_DAEMON_TEST_TASKS=1 (the integration tests and the bench).
def _test_crash(ctx: TaskContext) -> Any:
    ctx.progress("about to crash", 50)
    return 1 // 0


def _test_sleep(ctx: TaskContext) -> Any:
    import time

    seconds = float(ctx.args.get("seconds", 1))
    steps = max(1, int(seconds * 4))
    for i in range(steps):
        ctx.progress(f"step {i + 1} of {steps}", int(100 * i / steps))
        time.sleep(seconds / steps)
    return {"slept": seconds}


def _test_fail(ctx: TaskContext) -> Any:
    raise SecumailError(str(ctx.args.get("message", "the test job failed as asked")))


TASKS: dict[str, Callable[[TaskContext], Any]] = {name: run_cli for name in CLI_JOBS}
TASKS.update({"ssl-renew": ssl_renew, "configure": configure, "container-up": container_up,
              "container-down": container_down, "mesh-backup": mesh_backup, "mesh-sync": mesh_sync})  # fmt: skip
TEST_TASKS: dict[str, Callable[[TaskContext], Any]] = {
    "_test-crash": _test_crash,
    "_test-sleep": _test_sleep,
    "_test-fail": _test_fail,
}


def test_tasks_enabled() -> bool:
    return os.environ.get("SECUMAIL_DAEMON_TEST_TASKS") == "1"


def lookup(name: str) -> Callable[[TaskContext], Any] | None:
    if name in TASKS:
        return TASKS[name]
    if test_tasks_enabled():
        return TEST_TASKS.get(name)
    return None


def _plain(value: Any) -> Any:
    """JSON-ready form of dataclasses, datetimes, tuples."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
