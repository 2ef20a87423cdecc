"""secumaild's control methods: what mailctl and LuCI ask over the control socket.

status, jobs.start/show/list, reload, daemon.info. Mixed into secumaild's
Daemon (secumail.daemon.agent), whose state they read; secumail.daemon.control
carries the requests.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from secumail.appliance.operations import JOBS
from secumail.config.settings import Settings
from secumail.daemon.jobqueue import API_JOBS, INTERNAL_JOBS
from secumail.errors import InputError, SecumailError

if TYPE_CHECKING:
    from secumail.daemon.jobqueue import JobManager
    from secumail.daemon.scheduler import Scheduler

HEAVY_MODULES = ("paramiko", "zeroconf", "cryptography", "nacl", "acme", "josepy", "dns", "bcrypt", "sqlite3")


class ControlMethods:
    settings: Settings | None
    settings_error: str | None
    jobs: JobManager
    timers: Scheduler
    confdir: str
    requests: dict[str, int]
    started: float
    scale: float
    reconciles: int
    fail2ban: Any
    mesh: Any
    webmailpass: Any

    def load_settings(self, initial: bool = False, reconcile: bool = True) -> None:  # the Daemon's
        raise NotImplementedError

    def _reload_if_changed(self) -> bool:  # the Daemon's
        raise NotImplementedError

    def wan_check(self, reason: str = "timer") -> dict[str, Any]:  # the WanFollower's
        raise NotImplementedError

    def dispatch(self, method: str, params: dict[str, Any]) -> Any:
        self.requests[method] = self.requests.get(method, 0) + 1
        if method == "status":
            return self._status(params)
        if method == "jobs.start":
            return self._jobs_start(params)
        if method == "jobs.show":
            job = self.jobs.get(str(params.get("id", "")))
            if job is None:
                raise InputError(f"no job with id {params.get('id')!r} (finished jobs are kept for a while only)")
            return job.to_dict()
        if method == "jobs.list":
            return [job.to_dict() for job in self.jobs.jobs.values()]
        if method == "reload":
            self.load_settings()
            if self.settings_error:
                raise SecumailError(f"configuration not loaded: {self.settings_error}")
            return {"result": "reloaded"}
        if method == "daemon.info":
            return self.info()
        if method == "wan.check":
            return self.wan_check(reason="request")
        raise InputError(f"unknown method {method!r} (status, jobs.start, jobs.show, jobs.list, reload, daemon.info, "
                         "wan.check)")

    def _status(self, params: dict[str, Any]) -> Any:
        from secumail.appliance.status import collect_status

        wanted = params.get("confdir")
        if wanted and os.path.abspath(str(wanted)) != self.confdir:
            raise InputError(f"secumaild reads {self.confdir}, not {wanted}")
        if self._reload_if_changed():
            self.timers.after("reconcile", 0)
        if self.settings is None:
            raise SecumailError(f"configuration not loaded: {self.settings_error}")
        return collect_status(self.settings)

    def _jobs_start(self, params: dict[str, Any]) -> Any:
        from secumail.daemon.jobtasks import job_arguments, test_tasks_enabled

        name = params.get("name")
        args = params.get("args") or {}
        stdin = params.get("stdin")
        allowed = name in API_JOBS or (test_tasks_enabled() and isinstance(name, str) and name.startswith("_test-"))
        if not isinstance(name, str) or not allowed or name in INTERNAL_JOBS:
            raise InputError(f"unknown job {name!r}; jobs: {', '.join(API_JOBS)}")
        if not isinstance(args, dict):
            raise InputError("args must be an object")
        if any(str(key).startswith("_") for key in args):
            raise InputError("argument names starting with '_' are reserved")
        if stdin is not None and not isinstance(stdin, str):
            raise InputError("stdin must be a string")
        if name in JOBS:
            job_arguments(JOBS[name], args, stdin)  # refused here, with one line, before a worker starts
        job = self.jobs.start(name, args, stdin=stdin, origin="api")
        return {"id": job.id}

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": _version(),
            "confdir": self.confdir,
            "uptime": round(time.time() - self.started, 1),
            "rss_kb": _rss_kb(),
            "reconciles": self.reconciles,
            "requests": dict(self.requests),
            "timers": {name: round(delay * self.scale, 1) for name, delay in self.timers.pending().items()},
            "jobs_running": len(self.jobs.running()),
            "jobs_kept": len(self.jobs.jobs),
            "fail2ban": self.fail2ban.info() if self.fail2ban is not None else None,
            "mesh": self.mesh.info() if self.mesh is not None else None,
            "webmail_password": self.webmailpass.info() if self.webmailpass is not None else None,
            # What the daemon itself has loaded: the heavy libraries belong in workers only.
            "heavy_modules": sorted(m for m in HEAVY_MODULES if m in sys.modules),
            "settings_error": self.settings_error,
        }



def _rss_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _version() -> str:
    from secumail import __version__

    return __version__
