"""The reconcilers of secumaild: make the world match the settings, cheaply when nothing is to be done.

The container runs iff main.enabled, the mail config is rendered again when
its sections change, fw4 rules follow the enabled ports, fail2ban and the
mesh services run when configured. Heavy work is a job (container-up,
configure, ...); these only decide and start it. Mixed into secumaild's
Daemon (secumail.daemon.agent), whose state they use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import time
from typing import TYPE_CHECKING, Any

from secumail.config.settings import Settings
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.daemon.jobqueue import JobManager
    from secumail.daemon.scheduler import Scheduler

logger = logging.getLogger("secumaild")

RECONCILE_INTERVAL = 60.0


class Reconciler:
    settings: Settings | None
    jobs: JobManager
    timers: Scheduler
    selector: selectors.BaseSelector
    state: dict[str, Any]
    not_before: dict[str, float]
    control: Any
    fail2ban: Any
    mesh: Any
    webmailpass: Any
    confdir: str
    config_fingerprint: str
    reconcile_interval: float
    scale: float
    reconciles: int
    _pidfd: int | None

    def _reload_if_changed(self) -> bool:  # the Daemon's
        raise NotImplementedError

    def reconcile(self) -> None:
        """Make the world match the settings; cheap when nothing is to be done."""
        self.reconciles += 1
        self.timers.after("reconcile", self.reconcile_interval / self.scale)
        if self.control is not None:
            self.control.expire()
        self._reload_if_changed()
        s = self.settings
        if s is None:
            return
        state = self.container_state()
        self._reconcile_container(s, state)
        self._reconcile_config(s)
        self._reconcile_firewall(s)
        self._reconcile_fail2ban(s, state)
        self._reconcile_mesh(s)
        self._reconcile_webmail_password(s)

    def container_state(self) -> str:
        from secumail.appliance.spec import container_state

        return container_state(self.settings)

    def _reconcile_container(self, s: Settings, state: str) -> None:
        busy = any(self.jobs.active(n) for n in ("install", "setup-install", "restore", "start", "stop", "update",
                                                  "container-up", "container-down"))
        from secumail.appliance import lifelock

        if busy or lifelock.busy(s):  # a job here, or mailctl in a shell (an update's switch)
            return
        # A failed start backs off only further starts: main.enabled=0 still stops it at once.
        if s.main.enabled and state == "STOPPED" and not self._waiting("container-up"):
            logger.info("container %s is stopped but main.enabled=1: starting it", s.main.container)
            self.jobs.start("container-up", {}, origin="reconcile")
        elif not s.main.enabled and state == "RUNNING" and not self._waiting("container-down"):
            logger.info("container %s runs but main.enabled=0: stopping it", s.main.container)
            self.jobs.start("container-down", {}, origin="reconcile")
        if state == "RUNNING":
            self._watch_container(s)
            self._rotate_logs(s)
        else:
            self._unwatch_container()

    def _rotate_logs(self, s: Settings) -> None:
        """Keep the container's mail logs under main.log_size_limit (two stat calls when nothing is due)."""
        from secumail.appliance.logs import rotate_logs

        try:
            rotated = rotate_logs(s)
        except SecumailError as exc:
            logger.warning("log rotation failed: %s", exc)
            return
        if rotated:
            logger.info("rotated %s", ", ".join(rotated))

    def _waiting(self, key: str) -> bool:
        until = self.not_before.get(key)
        return until is not None and time.monotonic() < until

    def _reconcile_config(self, s: Settings) -> None:
        want = self.config_fingerprint
        if self.state.get("configured") == want:
            return
        if not os.path.isdir(os.path.join(s.main.data_path, "config")):
            return  # nothing set up yet: `mailctl install` renders the first config
        if any(self.jobs.active(n) for n in ("configure", "install", "setup-install", "restore", "update",
                                             "container-up", "container-down")):
            return  # one at a time: a reload racing a (re)start fails and backs off for minutes
        if self._waiting("configure"):
            return
        logger.info("mail configuration out of date: rendering and reloading")
        self.jobs.start("configure", {"_fingerprint": want}, origin="reconcile")

    def _reconcile_firewall(self, s: Settings) -> None:
        from secumail.mail import firewall
        from secumail.mesh import firewall as mesh_firewall
        from secumail.system.fw4 import reload_firewall

        if not firewall.applicable(self.confdir):
            return
        try:
            mail_changed = firewall.sync(s, self.confdir, reload=False)
            if mesh_firewall.sync(s, self.confdir, reload=False) or mail_changed:
                reload_firewall()
                logger.info("firewall rules updated for the enabled ports")
        except SecumailError as exc:
            logger.error("firewall: %s", exc)

    def _reconcile_fail2ban(self, s: Settings, state: str) -> None:
        want = s.features.fail2ban and (s.main.enabled or bool(s.features.fail2ban_logfile))
        if want:
            from secumail.mail.fail2ban import Guard, options_from_settings

            options = options_from_settings(s)
            if self.fail2ban is None:
                try:
                    self.fail2ban = Guard(options)
                    self.fail2ban.open()
                except SecumailError as exc:
                    logger.error("fail2ban not active: %s", exc)
                    self.fail2ban = None
                    return
                self.timers.after("fail2ban", 0)
            else:
                self.fail2ban.update(options)
        elif self.fail2ban is not None:
            self.fail2ban.close(remove=True)
            self.fail2ban = None
            self.timers.cancel("fail2ban")

    def _reconcile_mesh(self, s: Settings) -> None:
        if not s.mesh.enabled and self.mesh is None:
            return
        if self.mesh is None:
            from secumail.daemon.mesh import MeshService

            self.mesh = MeshService(self.selector, self.confdir)
        self._after_discovery(self.mesh.update(s))

    def _reconcile_webmail_password(self, s: Settings) -> None:
        from secumail.daemon.webmailpass import PasswordService, wanted

        if self.webmailpass is None:
            if wanted(s) is None:
                return
            self.webmailpass = PasswordService(self.selector, self.confdir)
        self.webmailpass.update(s)

    def _check_mesh_children(self) -> None:
        if self.mesh is not None:
            self._after_discovery(self.mesh.check_children())
        if self.webmailpass is not None:
            self.webmailpass.check_children()

    def _after_discovery(self, delay: float | None) -> None:
        """The discovery worker waits `delay` s (backoff) before it is started again."""
        if delay is not None:
            self.timers.after("mesh-discovery", delay)

    def _watch_container(self, s: Settings) -> None:
        """React at once when the container's init exits (pidfd), not at the next reconcile."""
        if self._pidfd is not None or not hasattr(os, "pidfd_open"):
            return
        from secumail.appliance.spec import container_for

        try:
            pid = container_for(s).pid()
            if pid is None:
                return
            fd = os.pidfd_open(pid)
        except (SecumailError, OSError) as exc:
            logger.debug("not watching the container's init: %s", exc)
            return
        self._pidfd = fd
        self.selector.register(fd, selectors.EVENT_READ, lambda mask: self._container_exited())

    def _container_exited(self) -> None:
        logger.warning("the container's init exited")
        self._unwatch_container()
        self.timers.after("reconcile", 1.0)  # lxc needs a moment to see it STOPPED

    def _unwatch_container(self) -> None:
        if self._pidfd is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
