"""`python -m secumail.daemon.worker NAME`: run one job and exit.

stdin: one JSON line {"args": {...}, "confdir": ..., "stdin": secret-or-null, "job": id}.
stdout: JSON lines — {"progress": {"message", "percent"}} …, then {"result": ...} or
{"error": "one line", "code": n[, "result": ...]}. Anything else the job's code
prints goes to stderr, which the daemon keeps only for a crash message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from typing import IO, Any


class _ProgressLog(logging.Handler):
    """INFO log lines of the job's code double as its progress messages."""

    def __init__(self, emit_progress: Any) -> None:
        super().__init__(logging.INFO)
        self.emit_progress = emit_progress

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # progress is best effort
            self.emit_progress(record.getMessage(), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Keep the protocol channel for us; whatever else writes to fd 1 lands on stderr.
    proto: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message, default=str) + "\n")
        proto.flush()

    def progress(message: str, percent: int | None = None) -> None:
        send({"progress": {"message": message, "percent": percent}})

    name = argv[0] if argv else ""
    try:
        request = json.loads(sys.stdin.readline() or "{}")
    except ValueError:
        send({"error": "the worker's request on stdin is not JSON", "code": 2})
        return 2
    from secumail.appliance.operations import plain
    from secumail.daemon import jobtasks as tasks
    from secumail.errors import SecumailError
    from secumail.system.log import setup_logging

    debug = bool(os.environ.get("SECUMAIL_DEBUG"))
    setup_logging(f"secumail-job[{name}]", debug=debug, stderr=True, tool=True)
    logging.getLogger().addHandler(_ProgressLog(progress))
    task = tasks.lookup(name)
    if task is None:
        send({"error": f"no job named {name!r}", "code": 2})
        return 2
    ctx = tasks.TaskContext(name, request.get("args") or {}, request.get("confdir"), request.get("stdin"),
                            progress)  # fmt: skip
    try:
        result = task(ctx)
    except tasks.ReportedProblems as exc:
        send({"error": str(exc), "code": exc.exit_code, "result": plain(exc.data)})
        return 1
    except SecumailError as exc:
        send({"error": str(exc), "code": exc.exit_code})
        return exc.exit_code
    except Exception as exc:  # a bug in the job: one line for the caller, the traceback for the log
        import traceback

        traceback.print_exc()
        send({"error": f"internal error in {name}: {type(exc).__name__}: {exc}", "code": 1})
        return 1
    send({"result": plain(result)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
