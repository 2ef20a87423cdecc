"""The job queue: each job runs `python -m secumail.daemon.worker NAME` and is followed without blocking.

The daemon never imports what a job needs (acme, paramiko, the backup code):
the worker does, and exits when done. Arguments (and any secret) go to the
worker on stdin as one JSON line; it answers with JSON lines on stdout —
`{"progress": {...}}` any number of times, then `{"result": ...}` or
`{"error": "...", "code": n}`. A worker that dies without a last line is a
failed job whose error is its last stderr line. At most `max_workers` run at
once (RAM on a router); the rest wait as "queued".
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any, Callable

from secumail.appliance.operations import JOBS
from secumail.errors import SecumailError

logger = logging.getLogger(__name__)

# What `jobs start` accepts (the API): the operations that name a job (secumail.appliance.operations).
API_JOBS = tuple(JOBS)
# Started by the daemon itself only (reconcile).
INTERNAL_JOBS = ("container-up", "container-down", "mesh-backup", "mesh-sync", "wan-update", "import-sync",
                 "alerts")
# Jobs allowed longer than the manager's timeout: a first import of a big mailbox takes hours (and a
# killed one resumes at its next run, docs/import.md).
LONG_JOBS = {"import": 24 * 3600.0, "import-sync": 24 * 3600.0}
KEEP_FINISHED = 50
LINE_LIMIT = 1024 * 1024
STDERR_TAIL = 4096


class JobBusy(SecumailError):
    """A job of that name is already queued or running (with other arguments)."""


def now() -> float:
    return time.time()


class Job:
    __slots__ = ("id", "name", "args", "stdin", "origin", "state", "progress", "result", "error", "code",
                 "started", "finished", "proc", "_out", "_err", "_open", "deadline")  # fmt: skip

    def __init__(self, job_id: str, name: str, args: dict[str, Any], stdin: str | None, origin: str) -> None:
        self.id = job_id
        self.name = name
        self.args = args
        self.stdin = stdin
        self.origin = origin
        self.state = "queued"
        self.progress: dict[str, Any] = {"message": "queued", "percent": None}
        self.result: Any = None
        self.error: str | None = None
        self.code: int | None = None
        self.started = now()
        self.finished: float | None = None
        self.proc: subprocess.Popen | None = None
        self._out = b""
        self._err = b""
        self._open = 0
        self.deadline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "progress": dict(self.progress),
            "result": self.result,
            "error": self.error,
            "started": round(self.started, 3),
            "finished": round(self.finished, 3) if self.finished is not None else None,
            "origin": self.origin,
        }


class JobManager:
    """Start, follow and stop worker processes; `on_finished(job)` is called for each job that ends."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        confdir: str | None,
        *,
        on_finished: Callable[[Job], None] | None = None,
        max_workers: int = 2,
        timeout: float = 3 * 3600,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.selector = selector
        self.confdir = confdir
        self.on_finished = on_finished
        self.max_workers = max_workers
        self.timeout = timeout
        self.extra_env = extra_env or {}
        self.jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._queue: collections.deque[Job] = collections.deque()
        self._ids = itertools.count(1)
        self._boot = format(int(time.time()) % 0xFFFFFF, "x")

    # -- API -------------------------------------------------------------------

    def start(self, name: str, args: dict[str, Any] | None = None, *, stdin: str | None = None,
              origin: str = "api") -> Job:  # fmt: skip
        """Queue a job and start it when a worker slot is free. A job of the same name that is
        still queued or running with the same arguments is returned instead of starting a second one.

        Jobs from the API (the LuCI page, `mailctl jobs start`; read-only LuCI users may start some)
        are capped at one queued or running job per name: with other arguments the caller gets
        JobBusy, so nobody can pile up provider calls. The daemon's own jobs are not capped, nor are
        the `_test-*` tasks (enabled in tests only) that fill the worker pool on purpose."""
        for job in self.jobs.values():
            if job.name != name or job.state not in ("queued", "running"):
                continue
            if job.args == (args or {}):
                return job
            if origin == "api" and not name.startswith("_test-"):  # test tasks exercise the worker pool
                raise JobBusy(f"{name} is busy: job {job.id} is {job.state} with other arguments; start again "
                              f"when it has finished (mailctl jobs show {job.id})")  # fmt: skip
        job = Job(f"{self._boot}-{next(self._ids)}", name, dict(args or {}), stdin, origin)
        self.jobs[job.id] = job
        self._queue.append(job)
        self._fill()
        self._trim()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def running(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.state == "running"]

    def active(self, name: str) -> Job | None:
        for job in self.jobs.values():
            if job.name == name and job.state in ("queued", "running"):
                return job
        return None

    def check_children(self) -> None:
        """After SIGCHLD or a timer: finish jobs whose worker has exited, kill overdue ones."""
        t = time.monotonic()
        for job in self.running():
            if job.proc is None:
                continue
            if job.deadline is not None and t > job.deadline and job.proc.poll() is None:
                limit = self._timeout(job.name)
                logger.error("job %s (%s) ran longer than %d s: stopping it", job.id, job.name, limit)
                job.error = f"{job.name} did not finish within {limit:.0f} s"
                self._signal(job, signal.SIGKILL)
            if job.proc.poll() is not None:
                self._finish(job)

    def next_deadline(self) -> float | None:
        deadlines = [job.deadline for job in self.running() if job.deadline is not None]
        return min(deadlines) if deadlines else None

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every worker's process group, wait up to `grace` s, then SIGKILL."""
        self._queue.clear()
        for job in list(self.jobs.values()):
            if job.state == "queued":
                self._fail_queued(job, "cancelled: secumaild is stopping")
        running = self.running()
        for job in running:
            self._signal(job, signal.SIGTERM)
        end = time.monotonic() + grace
        for job in running:
            if job.proc is None:
                continue
            try:
                job.proc.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(job, signal.SIGKILL)
                job.proc.wait()
            if job.error is None:
                job.error = "stopped: secumaild is stopping"
            self._finish(job)

    # -- internals ----------------------------------------------------------------

    def _timeout(self, name: str) -> float:
        return max(self.timeout, LONG_JOBS.get(name, 0.0))

    def _fill(self) -> None:
        while self._queue and len(self.running()) < self.max_workers:
            self._spawn(self._queue.popleft())

    def _spawn(self, job: Job) -> None:
        import secumail

        root = os.path.dirname(os.path.dirname(os.path.abspath(secumail.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        env.update(self.extra_env)
        request = {"args": job.args, "confdir": self.confdir, "stdin": job.stdin, "job": job.id}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "secumail.daemon.worker", job.name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                close_fds=True,
                start_new_session=True,  # its own process group: SIGTERM reaches its children too
            )
        except OSError as exc:
            self._fail_queued(job, f"cannot start the worker for {job.name}: {exc.strerror}")
            return
        job.proc = proc
        job.state = "running"
        job.started = now()
        job.progress = {"message": "started", "percent": None}
        job.deadline = time.monotonic() + self._timeout(job.name)
        job.stdin = None  # the secret is handed over; do not keep it
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        for stream, kind in ((proc.stdout, "out"), (proc.stderr, "err")):
            if stream is None:
                continue
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ, lambda mask, j=job, k=kind: self._readable(j, k))
            job._open += 1
        logger.info("job %s (%s) started by %s, pid %d", job.id, job.name, job.origin, proc.pid)

    def _readable(self, job: Job, kind: str) -> None:
        if job.proc is None:
            return
        stream = job.proc.stdout if kind == "out" else job.proc.stderr
        if stream is None or stream.closed:
            return
        try:
            chunk = os.read(stream.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            self._close_stream(job, stream)
            if job._open == 0 and job.proc.poll() is not None:
                self._finish(job)  # else SIGCHLD → check_children() finishes it
            return
        if kind == "err":
            job._err = (job._err + chunk)[-STDERR_TAIL:]
            return
        job._out += chunk
        while b"\n" in job._out:
            line, job._out = job._out.split(b"\n", 1)
            self._line(job, line)
        if len(job._out) > LINE_LIMIT:
            job._out = b""

    def _line(self, job: Job, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if "progress" in msg and isinstance(msg["progress"], dict):
            percent = msg["progress"].get("percent")
            job.progress = {
                "message": str(msg["progress"].get("message", ""))[:500],
                "percent": percent if isinstance(percent, int) else None,
            }
        elif "result" in msg:
            job.result = msg["result"]
        elif "error" in msg:
            job.error = str(msg["error"])
            job.code = msg.get("code") if isinstance(msg.get("code"), int) else 1
            if "result" in msg:
                job.result = msg["result"]

    def _close_stream(self, job: Job, stream: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(stream)
        stream.close()
        job._open -= 1

    def _finish(self, job: Job) -> None:
        if job.state not in ("running",) or job.proc is None:
            return
        proc = job.proc
        # Drain what is left (the worker exited; its pipes may still hold the last lines).
        for stream, kind in ((proc.stdout, "out"), (proc.stderr, "err")):
            if stream is not None and not stream.closed:
                try:
                    while True:
                        chunk = os.read(stream.fileno(), 65536)
                        if not chunk:
                            break
                        if kind == "out":
                            job._out += chunk
                        else:
                            job._err = (job._err + chunk)[-STDERR_TAIL:]
                except (BlockingIOError, OSError):
                    pass
                self._close_stream(job, stream)
        for line in job._out.split(b"\n"):
            if line.strip():
                self._line(job, line)
        job._out = b""
        rc = proc.wait()
        if rc == 0 and job.error is None:
            job.state = "done"
            job.progress = {"message": "done", "percent": 100}
        else:
            job.state = "failed"
            if job.error is None:
                job.error = self._crash_line(job, rc)
            job.progress = {"message": "failed", "percent": job.progress.get("percent")}
        job.finished = now()
        stderr_tail = job._err.decode("utf-8", "replace").strip().splitlines()
        for line in stderr_tail[-20:]:
            logger.debug("job %s: %s", job.id, line)
        job._err = b""
        job.proc = None
        job.deadline = None
        if job.state == "done":
            logger.info("job %s (%s) done in %.1f s", job.id, job.name, job.finished - job.started)
        else:
            logger.error("job %s (%s) failed: %s", job.id, job.name, job.error)
        self._fill()
        self._trim()
        if self.on_finished is not None:
            self.on_finished(job)

    @staticmethod
    def _crash_line(job: Job, rc: int) -> str:
        lines = [ln for ln in job._err.decode("utf-8", "replace").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no error output"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"the {job.name} worker was killed by {name}"
        return f"the {job.name} worker exited with {rc}: {last}"

    def _fail_queued(self, job: Job, error: str) -> None:
        job.state = "failed"
        job.error = error
        job.finished = now()
        job.stdin = None
        if job in self._queue:
            self._queue.remove(job)
        if self.on_finished is not None:
            self.on_finished(job)

    @staticmethod
    def _signal(job: Job, sig: int) -> None:
        if job.proc is None:
            return
        try:
            os.killpg(job.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            job.proc.send_signal(sig)

    def _trim(self) -> None:
        finished = [jid for jid, job in self.jobs.items() if job.state in ("done", "failed")]
        for jid in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[jid]
