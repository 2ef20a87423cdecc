"""mailctl jobs start|show|list: long jobs run by secumaild (install, ssl-setup, backup, ...)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from secumail.cli.base import Context, Failed, command, group, table


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "jobs", "start and follow long jobs in the agent (secumaild)")
    p = command(cmds, "start", start, "start a job; prints its id (--wait: follow it to the end)", text=_start_text)
    p.add_argument("name", help="install, ssl-setup, ssl-renew, dns-setup, dns-check, backup, sync, restore, "
                                 "configure, start, stop, update, domain-add, domain-del, import")
    p.add_argument("--args", metavar="JSON", default="{}", help='job arguments as a JSON object: \'{"force": true}\'')
    p.add_argument("--stdin", action="store_true", help="pass stdin to the job (a recovery key), never in --args")
    p.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    p = command(cmds, "show", show, "state, progress and result of a job", text=_job_text)
    p.add_argument("id")
    command(cmds, "list", list_jobs, "jobs the agent knows (running and recently finished)", text=_list_text)


def _call(method: str, params: dict[str, Any] | None = None) -> Any:
    from secumail.daemon.client import call

    return call(method, params)


def start(ctx: Context, args: argparse.Namespace) -> Any:
    from secumail.errors import InputError

    try:
        job_args = json.loads(args.args)
    except ValueError:
        raise InputError(f"--args {args.args!r} is not JSON") from None
    if not isinstance(job_args, dict):
        raise InputError("--args must be a JSON object")
    params: dict[str, Any] = {"name": args.name, "args": job_args}
    if args.stdin:
        params["stdin"] = sys.stdin.read()
    reply = _call("jobs.start", params)
    if not args.wait:
        return reply
    return _follow(ctx, reply["id"])


def _follow(ctx: Context, job_id: str) -> Any:
    job = follow(ctx, job_id)
    return job if job["state"] == "done" else Failed(job)


def follow(ctx: Context, job_id: str) -> dict[str, Any]:
    """Show a job's progress lines on stderr (not with --json) until it ends; the job as it ended."""
    shown = None
    delay = 0.1
    while True:
        job = _call("jobs.show", {"id": job_id})
        line = job["progress"]["message"]
        if not ctx.json and line and line != shown and job["state"] == "running":
            percent = job["progress"].get("percent")
            sys.stderr.write(f"{job['name']}: {line}" + (f" ({percent}%)" if percent is not None else "") + "\n")
            shown = line
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def show(ctx: Context, args: argparse.Namespace) -> Any:
    job = _call("jobs.show", {"id": args.id})
    return Failed(job) if job["state"] == "failed" else job


def list_jobs(ctx: Context, args: argparse.Namespace) -> Any:
    return _call("jobs.list")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _start_text(data: dict[str, Any]) -> str:
    return data["id"] if set(data) == {"id"} else _job_text(data)


def _job_text(job: dict[str, Any]) -> str:
    lines = [
        f"job:      {job['id']} ({job['name']})",
        f"state:    {job['state']}",
        f"progress: {job['progress']['message']}"
        + (f" ({job['progress']['percent']}%)" if job["progress"].get("percent") is not None else ""),
        f"started:  {_when(job['started'])}",
        f"finished: {_when(job['finished'])}",
    ]
    if job.get("error"):
        lines.append(f"error:    {job['error']}")
    if job.get("result") is not None:
        lines.append("result:   " + json.dumps(job["result"], default=str))
    return "\n".join(lines)


def _list_text(jobs: list[dict[str, Any]]) -> str:
    rows = [
        {"id": j["id"], "name": j["name"], "state": j["state"], "started": _when(j["started"]),
         "detail": (j.get("error") or j["progress"]["message"] or "")[:60]}
        for j in jobs
    ]  # fmt: skip
    return table(rows, ["id", "name", "state", "started", "detail"])
