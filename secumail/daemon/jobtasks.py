"""What each job does, in the worker process (here heavy imports are fine: the worker exits).

An API job (`mailctl jobs start NAME`, LuCI) is an operation of the appliance's
table (secumail.appliance.operations.JOBS): its JSON arguments are checked
against the operation's schema and handed to the same function mailctl calls,
so a job started from LuCI does exactly what the shell command does. A secret
argument (a recovery key) comes from the job's stdin, never from its
arguments. The daemon's own jobs (container-up/down, the scheduled backup and
sync) call the appliance directly.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from secumail.appliance.operations import JOBS, Call, Operation, Reported
from secumail.errors import InputError, SecumailError


class TaskContext(Call):
    """One job's call: its name, JSON arguments, stdin, and progress lines for the daemon."""

    def __init__(self, name: str, args: dict[str, Any], confdir: str | None, stdin: str | None,
                 progress: Callable[[str, int | None], None]) -> None:  # fmt: skip
        super().__init__(confdir, progress=lambda line: progress(line, None), warn=lambda line: progress(line, None))
        self.name = name
        self.args = args
        self.stdin = stdin
        self.report = progress

    def progress(self, line: str, percent: int | None = None) -> None:
        self.report(line, percent)


class ReportedProblems(SecumailError):
    """The job ran and returned data that says something is wrong (dns-check drift, conflicts)."""

    def __init__(self, message: str, data: Any) -> None:
        super().__init__(message)
        self.data = data


def job_arguments(op: Operation, args: dict[str, Any], stdin: str | None) -> dict[str, Any]:
    """The operation's arguments from a job's JSON `args` and `stdin` (InputError naming what is wrong)."""
    secret = op.secret()
    if secret is not None and secret in args:
        raise InputError(f"{op.job}: {secret} is read from the job's stdin, never from its arguments")
    if secret is not None and stdin is not None:
        args = {**args, secret: stdin.rstrip("\r\n")}  # only the line end goes: a password may end with a space
    return op.check(args)


def run_operation(ctx: TaskContext) -> Any:
    op = JOBS[ctx.name]
    args = {key: value for key, value in ctx.args.items() if not str(key).startswith("_")}  # the daemon's own
    values = job_arguments(op, args, ctx.stdin)
    data = op.run(ctx, values)
    if isinstance(data, Reported):
        raise ReportedProblems(data.message or f"{ctx.name} reported problems (see the job result)", data.data)
    return data


def container_up(ctx: TaskContext) -> Any:
    from secumail.appliance import lifecycle, lifelock

    with lifelock.exclusive(ctx.settings):
        return lifecycle.start(ctx.settings, ctx.progress)


def container_down(ctx: TaskContext) -> Any:
    from secumail.appliance import lifecycle, lifelock

    with lifelock.exclusive(ctx.settings):
        return lifecycle.stop(ctx.settings)


def _mesh_progress(ctx: TaskContext) -> Callable[[dict[str, Any]], None]:
    def report(facts: dict[str, Any]) -> None:
        percent = facts.get("percent")
        ctx.report(", ".join(f"{k} {v}" for k, v in facts.items() if k != "percent"),
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


def import_sync(ctx: TaskContext) -> Any:
    """One scheduled run of a sync job (`config import`; secumaild's timer import:<name> starts it)."""
    from secumail.appliance import imports

    return imports.sync(ctx, str(ctx.args.get("name", "")))


def wan_update(ctx: TaskContext) -> Any:
    """The A/AAAA records follow the public address (secumail.daemon.wanwatch starts it). The address
    comes with the job, or with dns.public_ipv4 'auto' is asked here (a worker may wait and load ssl)."""
    from secumail.dns import wan
    from secumail.dns.setup import update_addresses

    ipv4 = str(ctx.args.get("ipv4") or "") or wan.public_ipv4(ctx.settings)
    ipv6 = ctx.args.get("ipv6")  # None: not followed, or unreadable (the AAAA record is left alone)
    result = update_addresses(ctx.settings, ipv4, ipv6=str(ipv6) if ipv6 else None)
    if result["conflicts"]:
        raise ReportedProblems("an A record we did not publish is there; 'mailctl dns-setup --force' replaces it",
                               result)  # fmt: skip
    return result


def alerts(ctx: TaskContext) -> Any:
    """diagnose's checks, and a mail per new or resolved problem (secumaild's timer `alerts` starts it)."""
    from secumail.appliance.alerts import run

    return run(ctx.settings, scale=float(ctx.args.get("scale") or 1.0), confdir=ctx.confdir)


# Test hooks: only with SECUMAIL_DAEMON_TEST_TASKS=1 (the integration tests and the bench).
def _test_crash(ctx: TaskContext) -> Any:
    ctx.report("about to crash", 50)
    return 1 // 0


def _test_sleep(ctx: TaskContext) -> Any:
    import time

    seconds = float(ctx.args.get("seconds", 1))
    steps = max(1, int(seconds * 4))
    for i in range(steps):
        ctx.report(f"step {i + 1} of {steps}", int(100 * i / steps))
        time.sleep(seconds / steps)
    return {"slept": seconds}


def _test_fail(ctx: TaskContext) -> Any:
    raise SecumailError(str(ctx.args.get("message", "the test job failed as asked")))


TASKS: dict[str, Callable[[TaskContext], Any]] = {name: run_operation for name in JOBS}
TASKS.update({"container-up": container_up, "container-down": container_down, "mesh-backup": mesh_backup,
              "mesh-sync": mesh_sync, "wan-update": wan_update, "import-sync": import_sync,
              "alerts": alerts})  # fmt: skip
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
