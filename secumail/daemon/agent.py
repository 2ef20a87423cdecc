"""secumaild's loop: one thread, one selector, a heap of timers; it sleeps until something happens.

The loop, its timers, signals and configuration live here; what it reconciles
is secumail.daemon.reconcile, what the control socket may ask is
secumail.daemon.dispatch (both mixed into Daemon).

Wake-ups: a timer falls due, a signal arrives (through the wakeup fd), a worker
writes or exits, a control client speaks, the container's init exits (pidfd).
Work that needs a heavy library is a job in a worker process (jobqueue.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import time
from typing import Any

from secumail.config.settings import Settings
from secumail.daemon import paths
from secumail.daemon.dispatch import ControlMethods, _version
from secumail.daemon.jobqueue import Job, JobManager
from secumail.daemon.reconcile import RECONCILE_INTERVAL, Reconciler
from secumail.daemon.scheduler import Scheduler
from secumail.daemon.wanwatch import JOB as WAN_JOB
from secumail.daemon.wanwatch import TIMER as WAN_TIMER
from secumail.daemon.wanwatch import WanFollower
from secumail.errors import SecumailError

logger = logging.getLogger("secumaild")

DAY = 86400.0
FIRST_SSL_RENEW = 300.0
FIRST_DNS_CHECK = 900.0
FIRST_ALERTS = 300.0  # after a start, give the container time to come up before judging it
FIRST_CHARTS = 60.0
RETRY_BASE = 60.0
IMPORT_TIMER = "import:"  # + the name of a `config import` section: its next scheduled sync
FAIL2BAN_POLL = 2.0
ACME_TYPES = ("letsencrypt", "letsencrypt-staging", "zerossl", "acme", "openwrt-acme")
# Sections (or single options) whose change means the mail services' config must be rendered again
# (dns.mta_sts and dns.autoconfig decide what lighttpd in the container serves, secumail.mail.webserve;
# the rest of dns does not reach the container, so a TTL change renders nothing).
CONFIG_SECTIONS = ("main", "ports", "features", "protection", "ssl", "dkim", "container", "dns.mta_sts",
                   "dns.autoconfig")  # fmt: skip


def fingerprint(settings: Settings, sections: tuple[str, ...] | None = None) -> str:
    """Canonical JSON of (some sections of) the settings. Compared as text: hashlib would load
    OpenSSL's libcrypto into the daemon, ~4 MB of RSS for nothing."""
    data = settings.to_dict()
    if sections is not None:
        picked = {}
        for key in sections:
            section, _, option = key.partition(".")
            picked[key] = data[section][option] if option else data[section]
        data = picked
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


class Daemon(WanFollower, Reconciler, ControlMethods):
    def __init__(self, confdir: str | None = None, time_scale: float = 1.0,
                 reconcile_interval: float = RECONCILE_INTERVAL) -> None:  # fmt: skip
        from secumail.config import confdir as resolve_confdir

        self.confdir = resolve_confdir(confdir)
        self.scale = max(time_scale, 1e-6)
        self.reconcile_interval = reconcile_interval
        self.selector = selectors.DefaultSelector()
        self.timers = Scheduler()
        self.jobs = JobManager(self.selector, self.confdir, on_finished=self._job_finished)
        self.settings: Settings | None = None
        self.settings_error: str | None = None
        self.config_mtime: int | None = None
        self.config_fingerprint = ""
        self.failures: dict[str, int] = {}
        self.not_before: dict[str, float] = {}
        self.state = self._load_state()
        self.started = time.time()
        self.running = False
        self.reconciles = 0
        self.requests: dict[str, int] = {}
        self._pidfd: int | None = None
        self._wake_r = self._wake_w = -1
        self.control: Any = None
        self.fail2ban: Any = None
        self.mesh: Any = None
        self.webmailpass: Any = None
        self.schedule_extra: list[tuple[str, float]] = _test_schedule()

    # -- lifecycle -----------------------------------------------------------------

    def run(self) -> int:
        from secumail.daemon.control import ControlServer

        os.makedirs(paths.rundir(), mode=0o700, exist_ok=True)
        os.chmod(paths.rundir(), 0o700)
        lock_fd = self._lock_pidfile()
        self._setup_signals()
        self.control = ControlServer(paths.socket_path(), self.selector, self.dispatch)
        self.control.open()
        self.running = True
        logger.info("secumaild %s started (pid %d, config %s)", _version(), os.getpid(), self.confdir)
        try:
            self.load_settings(initial=True)
            self.loop()
        finally:
            self.shutdown()
            os.close(lock_fd)
        return 0

    def loop(self) -> None:
        while self.running:
            delay = self.timers.next_delay()
            deadline = self.jobs.next_deadline()
            if deadline is not None:
                until = max(0.0, deadline - time.monotonic())
                delay = until if delay is None else min(delay, until)
            for key, mask in self.selector.select(delay):
                key.data(mask)
                if not self.running:
                    return
            for name in self.timers.pop_due():
                self._fire(name)
            self.jobs.check_children()
            self._check_mesh_children()

    def stop(self) -> None:
        self.running = False

    def shutdown(self) -> None:
        logger.info("stopping: %d job(s) running", len(self.jobs.running()))
        self.jobs.stop_all()
        if self.mesh is not None:
            self.mesh.close()
        if self.webmailpass is not None:
            self.webmailpass.close()
        if self.fail2ban is not None:
            self.fail2ban.close()
        if self.control is not None:
            self.control.close()
        self._unwatch_container()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.pid_path())
        logger.info("stopped")

    def _lock_pidfile(self) -> int:
        import fcntl

        fd = os.open(paths.pid_path(), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SecumailError(f"secumaild is already running (lock {paths.pid_path()} is held)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _setup_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(sig, lambda signum, frame: None)  # the wakeup fd carries the number
        self.selector.register(self._wake_r, selectors.EVENT_READ, lambda mask: self._signals())

    def _signals(self) -> None:
        try:
            data = os.read(self._wake_r, 512)
        except BlockingIOError:
            return
        received = set(data)
        if signal.SIGCHLD in received:
            self.jobs.check_children()
            self._check_mesh_children()
        if received & {signal.SIGTERM, signal.SIGINT}:
            logger.info("signal %s: stopping", "SIGTERM" if signal.SIGTERM in received else "SIGINT")
            self.stop()
            return
        if signal.SIGHUP in received:
            logger.info("SIGHUP: re-reading the configuration")
            self.load_settings()
        if signal.SIGUSR1 in received:  # the WAN came up (hotplug): check its address now
            logger.debug("SIGUSR1: checking the public address")
            self.wan_check(reason="signal")

    # -- configuration -------------------------------------------------------------

    def load_settings(self, initial: bool = False, reconcile: bool = True) -> None:
        from secumail.config import load_settings

        self.config_mtime = self._config_mtime()  # before reading: a later write is seen next time
        try:
            settings = load_settings(self.confdir)
        except SecumailError as exc:
            self.settings_error = str(exc)
            logger.error("configuration not loaded: %s (keeping the previous one; fix it and reload)", exc)
            if self.settings is None:
                self.timers.after("reconcile", self.reconcile_interval / self.scale)  # retried when the file changes
            return
        old = self.settings
        self.settings = settings
        self.config_fingerprint = fingerprint(settings, CONFIG_SECTIONS)  # once per load, not per reconcile
        self.settings_error = None
        changed = old is None or fingerprint(old) != fingerprint(settings)
        if changed and not initial:
            logger.info("configuration changed")
        self._schedule(old, settings)
        if reconcile:
            self.reconcile()

    def _config_mtime(self) -> int | None:
        try:
            return os.stat(os.path.join(self.confdir, "mailserver")).st_mtime_ns
        except OSError:
            return None

    def _reload_if_changed(self) -> bool:
        """Pick up a committed change nobody told us about (no procd trigger on this host)."""
        if self._config_mtime() == self.config_mtime:
            return False
        logger.info("%s changed on disk: re-reading it", os.path.join(self.confdir, "mailserver"))
        self.load_settings(reconcile=False)
        return True

    def _schedule(self, old: Settings | None, new: Settings) -> None:
        s = self.scale
        if old is None:
            self.timers.after("ssl-renew", FIRST_SSL_RENEW / s)
            self.timers.after("dns-check", FIRST_DNS_CHECK / s)
            self.timers.after("alerts", FIRST_ALERTS / s)
            self.timers.after("charts", FIRST_CHARTS / s)
            for name, interval in self.schedule_extra:
                self.timers.after(name, interval / s)
        mesh_changed = old is None or (old.mesh.enabled, old.mesh.sync_interval) != (True, new.mesh.sync_interval)
        if new.mesh.enabled and mesh_changed:
            self.timers.after("mesh", min(new.mesh.sync_interval, 600) / s)
        if not new.mesh.enabled:
            self.timers.cancel("mesh")
        self._schedule_wan(old, new)
        self._schedule_imports(old, new)

    def _schedule_imports(self, old: Settings | None, new: Settings) -> None:
        """A timer import:<name> per enabled sync job (`config import`), due `interval` after its last run
        ended (at once when it never ran); armed when the job appears or its interval changes, else left
        to the finished job (_job_finished) to re-arm."""
        before = {job.name: job for job in (old.imports if old is not None else ())}
        for job in new.imports:
            timer = IMPORT_TIMER + job.name
            if not job.enabled:
                self.timers.cancel(timer)
                continue
            prev = before.get(job.name)
            if prev is not None and prev.enabled and prev.interval == job.interval:
                continue
            self.timers.after(timer, self._import_due(new, job.name, job.interval) / self.scale)
        for name in set(before) - {job.name for job in new.imports}:
            self.timers.cancel(IMPORT_TIMER + name)

    @staticmethod
    def _import_due(settings: Settings, name: str, interval: int) -> float:
        """Seconds until sync job `name` is due: `interval` after its last run ended, 1 s if it never ran."""
        from secumail.mail.imapimport.state import last_finished

        last = last_finished(settings.layout.import_state(name))
        return 1.0 if last is None else max(1.0, last + interval - time.time())

    # -- timers ----------------------------------------------------------------------

    def _fire(self, name: str) -> None:
        if name == "reconcile":
            self.reconcile()
        elif name == "fail2ban":
            if self.fail2ban is not None:
                self.fail2ban.poll()
                self.timers.after("fail2ban", FAIL2BAN_POLL)
        elif name == "ssl-renew":
            self._scheduled_ssl_renew()
        elif name == "dns-check":
            self._scheduled_dns_check()
        elif name == "alerts":
            self._scheduled_alerts()
        elif name == "charts":
            self._sample_charts()
        elif name == WAN_TIMER:
            self.wan_check()
        elif name == "mesh":
            self._scheduled_job("mesh-backup", {}, "mesh")
        elif name.startswith(IMPORT_TIMER):
            job = self._import_job(name)
            if job is not None and job.enabled:  # a job deleted or disabled meanwhile is not run
                self._scheduled_job("import-sync", {"name": job.name}, name)
        elif name == "mesh-discovery":
            if self.mesh is not None:
                self._after_discovery(self.mesh.ensure_discovery())
        else:
            for extra, _interval in self.schedule_extra:
                if extra == name:
                    self._scheduled_job(name, {}, name)

    def _scheduled_ssl_renew(self) -> None:
        s = self.settings
        if s is None or not s.main.enabled or s.ssl.type not in ACME_TYPES:
            self.timers.after("ssl-renew", DAY / self.scale)
            return
        self._scheduled_job("ssl-renew", {}, "ssl-renew")

    def _scheduled_dns_check(self) -> None:
        s = self.settings
        if s is None or not s.main.enabled:
            self.timers.after("dns-check", DAY / self.scale)
            return
        self._scheduled_job("dns-check", {}, "dns-check")

    def _scheduled_alerts(self) -> None:
        s = self.settings
        if s is None or not s.main.enabled or not s.alerts.enabled:
            self.timers.after("alerts", self._interval("alerts") / self.scale)
            return
        self._scheduled_job("alerts", {"scale": self.scale}, "alerts")

    def _sample_charts(self) -> None:
        """The log counters into the current hour and a queue sample (LuCI's charts). In the loop, like the
        count before a log rotation: a few kilobytes of new log lines and a walk of the queue directory."""
        from secumail.appliance.charts import SAMPLE_INTERVAL, sample

        self.timers.after("charts", SAMPLE_INTERVAL / self.scale)
        s = self.settings
        if s is None or not os.path.isdir(os.path.join(s.main.data_path, "config")):
            return  # nothing installed yet
        try:
            sample(s)
        except SecumailError as exc:
            logger.warning("charts: %s", exc)

    def _scheduled_job(self, name: str, args: dict[str, Any], timer: str) -> None:
        job = self.jobs.start(name, args, origin=f"schedule:{timer}")
        logger.debug("scheduled job %s (%s)", job.id, name)

    def _import_job(self, timer: str) -> Any:
        name = timer[len(IMPORT_TIMER) :]
        return next((job for job in self.settings.imports if job.name == name), None) if self.settings else None

    def _interval(self, timer: str) -> float:
        if timer == "mesh" and self.settings is not None:
            return float(self.settings.mesh.sync_interval)
        if timer == "alerts" and self.settings is not None:
            return float(self.settings.alerts.interval)
        if timer.startswith(IMPORT_TIMER):
            job = self._import_job(timer)
            return float(job.interval) if job is not None else DAY
        for name, interval in self.schedule_extra:
            if name == timer:
                return interval
        return DAY

    def _job_finished(self, job: Job) -> None:
        if job.name == WAN_JOB:
            self._wan_job_finished(job)
            return
        if job.name == "alerts" and isinstance(job.result, dict):
            for line in job.result.get("sent", ()):
                logger.warning("%s", line)
            for line in job.result.get("failed", ()):
                logger.error("%s", line)
        if job.name == "configure" and job.state == "done" and self.settings is not None:
            self.state["configured"] = job.args.get("_fingerprint") or self.config_fingerprint
            self._save_state()
        if job.origin.startswith("reconcile"):
            if job.state == "failed":
                self._backoff(job.name, RECONCILE_INTERVAL * 10)
            else:
                self.failures.pop(job.name, None)
                self.not_before.pop(job.name, None)
            self.timers.after("reconcile", 1.0)
            return
        if not job.origin.startswith("schedule:"):
            return
        timer = job.origin.split(":", 1)[1]
        interval = self._interval(timer)
        if timer == "mesh" and job.name == "mesh-backup" and job.state == "done":
            self.jobs.start("mesh-sync", {"direction": "both"}, origin="schedule:mesh")
            return
        # A job that ran and reported findings (DNS drift, conflicts) is not retried sooner.
        if job.state == "failed" and job.result is None:
            delay = self._backoff(timer, interval)
            logger.warning("%s failed; retrying in %.0f s", job.name, delay * self.scale)
            self.timers.after(timer, delay)
            return
        if job.state == "failed":
            logger.warning("%s reported problems: %s", job.name, job.error)
        self.failures.pop(timer, None)
        next_in = interval
        if job.name == "ssl-renew" and isinstance(job.result, dict):
            next_in = min(interval, _seconds_until(job.result.get("next_check")) or interval)
        self.timers.after(timer, next_in / self.scale)

    def _backoff(self, key: str, cap: float) -> float:
        """Delay (already time-scaled) before retry number n: 60 s · 2^(n-1), at most `cap`."""
        n = self.failures.get(key, 0) + 1
        self.failures[key] = n
        delay = min(RETRY_BASE * 2 ** (n - 1), cap) / self.scale
        self.not_before[key] = time.monotonic() + delay
        return delay

    # -- persistent run state (tmpfs: cleared at boot, which re-renders once) -------------

    def _load_state(self) -> dict[str, Any]:
        try:
            with open(paths.state_path(), encoding="utf-8") as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        from secumail.system.files import atomic_write

        with contextlib.suppress(OSError):
            atomic_write(paths.state_path(), json.dumps(self.state), 0o600)


def _seconds_until(iso: Any) -> float | None:
    import datetime as dt

    if not isinstance(iso, str):
        return None
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(60.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _test_schedule() -> list[tuple[str, float]]:
    """SECUMAIL_DAEMON_TEST_SCHEDULE="_test-crash:30,...": extra scheduled jobs (tests only)."""
    from secumail.daemon.jobtasks import test_tasks_enabled

    spec = os.environ.get("SECUMAIL_DAEMON_TEST_SCHEDULE", "")
    if not spec or not test_tasks_enabled():
        return []
    out = []
    for item in spec.split(","):
        name, _, seconds = item.partition(":")
        out.append((name.strip(), float(seconds or 60)))
    return out
