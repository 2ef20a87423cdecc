"""secumaild's WAN follower: when the public IPv4 address changes, update the A record (dns.follow_wan);
with dns.public_ipv6 'wan' the AAAA record follows the WAN's global IPv6 address the same way.

The check runs every dns.wan_check_interval seconds, and at once on SIGUSR1 or the control method
`wan.check` (OpenWrt's iface hotplug sends it when the WAN comes up: files/etc/hotplug.d/iface).
With the address read locally (dns.public_ipv4 empty or fixed) a check is a ubus call or an ioctl
and a small JSON read: no job unless the address differs from the one we published. With
dns.public_ipv4 'auto' the web service is asked in the wan-update job itself (it needs ssl and
may wait), which then does nothing when the answer is what we published.

What we published is data_path/dns/state.json (secumail.dns.plan), so a daemon restart or a
reboot keeps it. The follower never publishes a first A record: `mailctl dns-setup` does.
Mixed into secumaild's Daemon (secumail.daemon.agent).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from secumail.config.settings import Settings
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.daemon.jobqueue import Job, JobManager
    from secumail.daemon.scheduler import Scheduler

logger = logging.getLogger("secumaild")

TIMER = "wan-check"
JOB = "wan-update"


class WanFollower:
    settings: Settings | None
    jobs: JobManager
    timers: Scheduler
    scale: float
    not_before: dict[str, float]
    failures: dict[str, int]

    wan_note = ""  # the last "not following" reason logged (each is logged once, not every check)
    wan_note6 = ""  # the same for the IPv6 address

    def _backoff(self, key: str, cap: float) -> float:  # the Daemon's
        raise NotImplementedError

    def _schedule_wan(self, old: Settings | None, new: Settings) -> None:
        watched = lambda s: (s.dns.follow_wan, s.dns.wan_check_interval, s.dns.public_ipv4,  # noqa: E731
                             s.dns.wan_interface, s.dns.provider)  # fmt: skip
        if not new.dns.follow_wan:
            self.timers.cancel(TIMER)
            return
        if old is None or watched(old) != watched(new):
            self.wan_note = ""
            self.timers.after(TIMER, 1.0)  # soon after start or a change of these options

    def wan_check(self, reason: str = "timer") -> dict[str, Any]:
        """One check; returns what it decided (the control method `wan.check` shows it)."""
        s = self.settings
        if s is None or not s.dns.follow_wan:
            self.timers.cancel(TIMER)
            return {"result": "off"}
        self.timers.after(TIMER, s.dns.wan_check_interval / self.scale)
        if self.jobs.active(JOB):
            return {"result": "busy"}
        until = self.not_before.get(JOB)
        if reason == "timer" and until is not None and time.monotonic() < until:
            return {"result": "waiting"}  # a failed update backs off; a hotplug event still goes through
        from secumail.dns import wan  # not secumail.dns.records: its hashlib would load libcrypto here

        fqdn = s.main.fqdn.strip().lower().rstrip(".")
        published = wan.published_address(s.main.data_path, fqdn)
        if s.dns.provider == "manual":
            return self._not_following("dns.provider is manual: the A record cannot be updated automatically")
        if published is None:
            return self._not_following(f"no A record of {fqdn} published yet: run 'mailctl dns-setup' first")
        ipv6, published6 = self._wan_ipv6(s, fqdn)
        if s.dns.public_ipv4 == "auto":
            job = self.jobs.start(JOB, {"ipv4": "", **self._v6(ipv6)}, origin="wan")
            return {"result": "asking", "job": job.id, "published": published}
        try:
            current = s.dns.public_ipv4 or wan.local_ipv4(s.dns.wan_interface)
        except SecumailError as exc:
            return self._not_following(f"public address unknown: {exc}")
        self.wan_note = ""
        moved6 = ipv6 is not None and ipv6 != published6
        if current == published and not moved6:
            return {"result": "unchanged", "address": current}
        if current != published:
            logger.info("public address changed from %s to %s: updating A records of %s", published, current, fqdn)
        if moved6:
            logger.info("public IPv6 address changed from %s to %s: updating AAAA records of %s",
                        published6 or "none", ipv6, fqdn)  # fmt: skip
        job = self.jobs.start(JOB, {"ipv4": current, **self._v6(ipv6), "_logged": True}, origin="wan")
        return {"result": "updating", "job": job.id, "from": published, "to": current}

    @staticmethod
    def _v6(ipv6: str | None) -> dict[str, str]:
        return {"ipv6": ipv6} if ipv6 is not None else {}  # no key: the job leaves the AAAA record alone

    def _wan_ipv6(self, s: Settings, fqdn: str) -> tuple[str | None, str | None]:
        """(the WAN's global IPv6 address now, the AAAA value we published) with dns.public_ipv6
        'wan'; the address is None when it is not followed or cannot be read (then the AAAA
        record stays as it is, and the reason is logged once)."""
        from secumail.dns import wan

        if s.dns.public_ipv6 != "wan":
            return None, None
        published6 = wan.published_address(s.main.data_path, fqdn, "AAAA")
        try:
            return wan.local_ipv6(s.dns.wan_interface), published6
        except SecumailError as exc:
            note = f"public IPv6 address unknown, AAAA left as it is: {exc}"
            if note != self.wan_note6:
                logger.warning("follow_wan: %s", note)
                self.wan_note6 = note
            return None, published6

    def _not_following(self, note: str) -> dict[str, Any]:
        if note != self.wan_note:
            logger.warning("follow_wan: %s", note)
            self.wan_note = note
        return {"result": "not following", "reason": note}

    def _wan_job_finished(self, job: Job) -> None:
        result = job.result if isinstance(job.result, dict) else {}
        if job.state == "done":
            self.failures.pop(JOB, None)
            self.not_before.pop(JOB, None)
            if result.get("changed") and not job.args.get("_logged"):
                names = ", ".join(result.get("names") or [])
                if result.get("from") != result.get("to"):
                    logger.info("public address changed from %s to %s: updating A records of %s",
                                result.get("from"), result.get("to"), names)  # fmt: skip
                if result.get("from6") != result.get("to6"):
                    logger.info("public IPv6 address changed from %s to %s: updating AAAA records of %s",
                                result.get("from6") or "none", result.get("to6"), names)  # fmt: skip
            return
        interval = self.settings.dns.wan_check_interval if self.settings is not None else 300
        delay = self._backoff(JOB, float(interval))
        # The job's own error line says why; this one says what happens next.
        logger.warning("%s: the A record stays as it is; next try in %.0f s", JOB, delay * self.scale)
        self.timers.after(TIMER, delay)
