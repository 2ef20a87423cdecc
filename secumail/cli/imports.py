"""mailctl import USER --from URL [--once | --every 15m], import list|show|del (docs/import.md).

`mailctl import USER ...` is `import run` (or `import add` with --every): main() puts the word in.
A run goes to secumaild as the job `import` when it runs for this config (so the copy outlives
the terminal), followed here; else it runs in this process. The password never is an argument.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from secumail.appliance.operations import OPERATIONS
from secumail.cli.base import Context, UsageError, command, group, operation, read_password, table

WORDS = ("run", "add", "list", "show", "del")


def default_command(argv: list[str]) -> list[str]:
    """`import USER ...` → `import run USER ...` (`import add` when --every is given)."""
    at = _command_at(argv)
    if at is None or argv[at] != "import" or at + 1 >= len(argv):
        return argv
    word = argv[at + 1]
    if word in WORDS or word.startswith("-"):
        return argv
    return [*argv[: at + 1], "add" if any(a == "--every" or a.startswith("--every=") for a in argv) else "run",
            *argv[at + 1 :]]  # fmt: skip


def _command_at(argv: list[str]) -> int | None:
    """Index of the first word that is not a global option (--json, --debug, --confdir DIR)."""
    i = 0
    while i < len(argv):
        if argv[i] in ("--json", "--debug") or argv[i].startswith("--confdir="):
            i += 1
        elif argv[i] == "--confdir":
            i += 2
        else:
            return i
    return None


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("user", metavar="USER", help="the mailbox here the messages go to")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the old server: imaps://LOGIN@HOST[:PORT] (imap:// for STARTTLS); no password in it",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the old server's password from stdin")
    p.add_argument(
        "--folders",
        action="extend",
        nargs="+",
        metavar="PATTERN",
        help="only these folders of the old server (names or globs)",
    )
    p.add_argument("--exclude", action="extend", nargs="+", metavar="PATTERN", help="leave these folders out")
    p.add_argument(
        "--ca-file",
        dest="ca_file",
        metavar="FILE",
        help="trust this PEM file (a CA or the old server's self-signed certificate)",
    )
    p.add_argument("--insecure", action="store_true", help="encrypt without checking the old server's certificate")
    p.add_argument("--name", metavar="NAME", help="name of the import (default: LOCALPART_HOST)")


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "import", "copy mail from another IMAP server, once or on an interval")
    p = command(
        cmds, "run", run, "copy what is new at the old server once (mailctl import USER --from URL)", text=_run_text
    )
    p.set_defaults(operation="import.run")
    _options(p)
    p.add_argument("--once", action="store_true", help="copy once (the default)")
    p = operation(cmds, "add", "import.add",
                  "make a sync job secumaild runs every interval (mailctl import USER --from URL --every 15m)",
                  text=_added_text, secrets=_password, after=_tell_agent)  # fmt: skip
    _options(p)
    p.add_argument("--every", required=True, metavar="INTERVAL", help="15m, 1h, 1d (at least 1m)")
    operation(cmds, "list", "import.list", "list sync jobs and kept imports (never passwords)", text=_list_text)
    p = operation(
        cmds, "show", "import.show", "a job's settings, last run and what was copied per folder", text=_show_text
    )
    p.add_argument("name")
    p = operation(
        cmds,
        "del",
        "import.del",
        "delete a sync job, its password and state (the mail stays)",
        text=lambda d: f"import {d['name']} deleted",
        after=_tell_agent,
    )
    p.add_argument("name")


def _host(source: str) -> str:
    from secumail.config import validate

    try:
        return validate.parse_imap_url(source).host
    except ValueError as exc:
        raise UsageError(f"--from {source!r} {exc}") from None


def _password(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    _ = ctx.settings  # config errors first, before asking for a password
    return {"password": read_password(args, f"Password at {_host(args.source)}", confirm=False)}


def _values(args: argparse.Namespace, op_name: str) -> dict[str, Any]:
    op = OPERATIONS[op_name]
    return {key: getattr(args, key) for key in op.args if getattr(args, key, None) is not None}


def run(ctx: Context, args: argparse.Namespace) -> Any:
    values = _values(args, "import.run")
    password = _password(ctx, args)["password"]
    job_id = _start_in_agent(ctx, values, password)
    if job_id is None:
        return OPERATIONS["import.run"].run(ctx, {**values, "password": password})
    return _follow(ctx, job_id)


def _start_in_agent(ctx: Context, values: dict[str, Any], password: str) -> str | None:
    """The id of the job secumaild started, or None when no secumaild runs for this config."""
    import os

    from secumail.config import confdir
    from secumail.daemon.client import DaemonNotRunning, call, socket_path

    if not os.path.exists(socket_path()):
        return None
    try:
        info = call("daemon.info")
    except DaemonNotRunning:
        return None
    if os.path.abspath(str(info.get("confdir"))) != os.path.abspath(confdir(ctx.confdir)):
        return None  # it reads another config: copy here
    return call("jobs.start", {"name": "import", "args": values, "stdin": password})["id"]


def _follow(ctx: Context, job_id: str) -> Any:
    from secumail.cli.agent_jobs import follow
    from secumail.errors import SecumailError

    try:
        job = follow(ctx, job_id)
    except KeyboardInterrupt:
        sys.stderr.write(f"mailctl: the import goes on in secumaild as job {job_id} (mailctl jobs show {job_id})\n")
        raise
    if job["state"] != "done":
        raise SecumailError(job.get("error") or f"the import job {job_id} failed")
    return job["result"]


def _tell_agent(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """secumaild re-reads the config now (else within a minute) and (un)schedules the job."""
    from secumail.daemon.client import call
    from secumail.errors import SecumailError

    try:
        call("reload")
        data["agent"] = "running"
    except SecumailError:
        data["agent"] = "not running"
    return data


def _run_text(data: dict[str, Any]) -> str:
    from secumail.mail.imapimport.engine import summary_text

    return summary_text(data)


def _added_text(data: dict[str, Any]) -> str:
    when = ("secumaild runs the first sync now" if data.get("agent") == "running"
            else "secumaild is not running: the job runs when it starts")  # fmt: skip
    return f"import {data['name']}: {data['user']} ← {data['source']} every {data['every']}; {when}"


def _result(run_info: dict[str, Any] | None) -> str:
    if not run_info:
        return "never ran"
    if not run_info.get("ok"):
        return f"FAILED: {run_info.get('error')}"
    return f"ok: {run_info.get('copied', 0)} copied"


def _list_text(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "last run": ((row.get("last_run") or {}).get("finished") or "-")[:19].replace("T", " "),
              "result": _result(row.get("last_run"))} for row in rows]  # fmt: skip
    return table(shown, ["name", "user", "source", "every", "last run", "result"])


def _show_text(data: dict[str, Any]) -> str:
    lines = [f"import {data['name']}: {data['user']} ← {data['source']} (every {data['every']})"]
    for key in ("folders", "exclude"):
        if data.get(key):
            lines.append(f"{key}: {', '.join(data[key])}")
    if data.get("every") != "once":
        lines.append(f"password: {'stored' if data.get('password_stored') else 'MISSING'}")
    last = data.get("last_run") or {}
    lines.append(f"last run: {_result(last)}" + (f" (ended {last['finished']})" if last.get("finished") else ""))
    rows = [{"folder": f["folder"], "into": f["target"], "uidvalidity": f["uidvalidity"], "last uid": f["last_uid"],
             "refused": len(f.get("refused", []))} for f in data.get("folders_copied", [])]  # fmt: skip
    lines.append(table(rows, ["folder", "into", "uidvalidity", "last uid", "refused"]))
    return "\n".join(lines)
