"""`mailctl diagnose`: every check of the appliance, each ok, warn or fail with a one-line hint.

It starts from what `mailctl status` computes (container, services, memory, certificate,
delivery) and adds what status is too cheap to do: dns-check, the open-relay self-test, the
DNS blocklists, the queue's ages, disk, clock, backups. The slow checks run side by side in
threads, each with its own timeout, under one total deadline (DEADLINE): a check still running
then is reported as warn ("did not finish"), and its thread is left to end by itself (a daemon
thread: it never holds mailctl's exit). docs/operating.md describes the report's shape.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from secumail.config.settings import Settings

DEADLINE = 12.0  # seconds for the report; with Python's start and the output, mailctl stays under 15 s
DNS_SECONDS = 10.0  # dns-check (it has its own total deadline of 2 × dns.timeout; this caps it)
SMTP_SECONDS = 10.0  # the open-relay self-test (postscreen may hold the banner ~6 s on a first visit)
QUEUE_SECONDS = 8.0
DNSBL_SECONDS = 4.0
NTP_SECONDS = 2.0
STUCK_HOURS = 4.0  # a message queued longer than this is stuck: fail (younger deferred ones warn)
FULL_PERCENT, WARN_PERCENT = 98.0, 90.0  # disk, inodes, memory
SKEW_WARN, SKEW_FAIL = 2.0, 60.0  # seconds: DKIM signatures, TLS and TOTP care about minutes
STATES = ("ok", "warn", "fail")


@dataclass(frozen=True)
class Check:
    """One line of the report. `id` is stable (scripts and LuCI key on it), `name` is for people."""

    id: str
    name: str
    status: str  # ok | warn | fail
    detail: str
    hint: str = ""  # how to fix it; empty when ok


@dataclass(frozen=True)
class Skip:
    """A check that does not apply here, and why (mesh off, no NTP server configured, …)."""

    id: str
    name: str
    why: str


Result = list[Check | Skip]


def diagnose(settings: Settings, *, confdir: str | None = None, deadline: float = DEADLINE) -> dict[str, Any]:
    """The report: {"ok", "worst", "elapsed", "checks": [Check...], "skipped": [Skip...]}."""
    from secumail.appliance.status import collect_status

    began = time.monotonic()
    status = collect_status(settings)
    rows: Result = list(_container_rows(settings, status))
    running = status["container"]["state"] == "RUNNING"
    slow: list[tuple[str, str, Callable[[], Result], float]] = [
        ("dns.records", "DNS records", lambda: _dns_rows(settings, status), DNS_SECONDS),
        ("dnsbl", "DNS blocklists", lambda: _dnsbl_rows(settings), DNSBL_SECONDS),
        ("clock", "clock", lambda: _clock_rows(confdir), NTP_SECONDS + 1),
    ]
    if running:
        slow += [("relay.open", "open relay", lambda: _open_relay_rows(settings), SMTP_SECONDS),
                 ("queue", "queue", lambda: _queue_rows(settings), QUEUE_SECONDS)]  # fmt: skip
    threads = [_Run(ident, name, fn, min(seconds, deadline)) for ident, name, fn, seconds in slow]
    rows += _certificate_rows(settings)
    rows += _disk_rows(settings)
    rows += _memory_fit_rows(settings)
    rows += _backup_rows(settings)
    for run in threads:
        run.join(max(0.0, began + deadline - time.monotonic()))
        rows += run.rows()
    checks = [asdict(r) for r in rows if isinstance(r, Check)]
    worst = max((c["status"] for c in checks), key=STATES.index, default="ok")
    return {
        "ok": worst != "fail",
        "worst": worst,
        "elapsed": round(time.monotonic() - began, 2),
        "checks": checks,
        "skipped": [asdict(r) for r in rows if isinstance(r, Skip)],
    }


class _Run:
    """One slow check in a daemon thread with its own timeout."""

    def __init__(self, ident: str, name: str, fn: Callable[[], Result], timeout: float) -> None:
        self.ident, self.name, self.timeout = ident, name, timeout
        self.began = time.monotonic()
        self.result: Result | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), name=f"diagnose {ident}", daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Result]) -> None:
        try:
            self.result = fn()
        except Exception as exc:  # noqa: BLE001 - one check failing to run is a row, never the report
            self.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc).splitlines()[0]

    def join(self, limit: float) -> None:
        self.thread.join(max(0.0, min(limit, self.timeout - (time.monotonic() - self.began))))

    def rows(self) -> Result:
        if self.result is not None:
            return self.result
        if self.error is not None:
            return [
                Check(
                    self.ident,
                    self.name,
                    "warn",
                    f"could not check: {self.error}",
                    "run it again with --debug, or see the check's own command in docs/operating.md",
                )
            ]
        return [
            Check(
                self.ident,
                self.name,
                "warn",
                f"did not finish within {self.timeout:g} s",
                "a server it asks does not answer: see the detail of 'mailctl dns-check' or the logs",
            )
        ]


# --- from mailctl status ------------------------------------------------------------------------

_DAEMON = {
    "smtp": "Postfix",
    "submission": "Postfix",
    "smtps": "Postfix",
    "imap": "Dovecot",
    "imaps": "Dovecot",
    "pop3": "Dovecot",
    "pop3s": "Dovecot",
    "sieve": "Dovecot",
    "opendkim": "OpenDKIM",
    "rspamd": "Rspamd",
}


def _container_rows(settings: Settings, status: dict[str, Any]) -> Result:
    state = status["container"]["state"]
    name = settings.main.container
    if state == "not installed":
        return [Check("container", "container", "fail", f"container {name} is not installed", "run 'mailctl install'")]
    if state != "RUNNING":
        how = "run 'mailctl start'" if settings.main.enabled else "mailserver.main.enabled is 0: 'mailctl start'"
        return [Check("container", "container", "fail", f"container {name} is {state}", how)]
    rows: Result = [Check("container", "container", "ok", f"container {name} is running")]
    ports = settings.ports.enabled()
    where = "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)
    for service, up in status["services"].items():
        daemon = _DAEMON.get(service, service)
        port = ports.get(service)
        if port is not None:
            ident, label = f"port.{service}", f"{service} port {port}"
            said = f"{daemon} answers on {where}:{port}" if up else f"{daemon} does not answer on {where}:{port}"
        else:
            ident, label = f"service.{service}", f"{daemon} milter"
            said = f"{daemon}'s milter socket answers" if up else f"{daemon}'s milter socket does not answer"
        rows.append(
            Check(
                ident,
                label,
                "ok" if up else "fail",
                said,
                "" if up else f"see 'mailctl logs' for why {daemon} stopped, then 'mailctl restart'",
            )
        )
    rows.extend(_memory_rows(status["container"].get("memory")))
    return rows


def _memory_rows(memory: dict[str, int] | None) -> Result:
    if not memory:
        return [Skip("memory", "container memory", "the container's memory cgroup cannot be read")]
    used, limit = memory["used"], memory["limit"]
    if not limit or limit >= 2**60:
        return [Check("memory", "container memory", "ok", f"{used / 2**20:.0f} MiB used, no limit")]
    percent = 100.0 * used / limit
    said = f"{used / 2**20:.0f} of {limit / 2**20:.0f} MiB used ({percent:.0f} %)"
    state = _level(percent)
    return [Check("memory", "container memory", state, said,
                  "" if state == "ok" else "raise mailserver.container.memory, or turn off ClamAV "
                                           "(features.virus_scan) and the spam filter")]  # fmt: skip


def _level(percent: float) -> str:
    return "fail" if percent >= FULL_PERCENT else "warn" if percent >= WARN_PERCENT else "ok"


def _certificate_rows(settings: Settings) -> Result:
    from secumail.certs.status import ssl_status

    cert = ssl_status(settings)
    renew = "'mailctl ssl-renew'" if settings.ssl.type != "openwrt-acme" else "OpenWrt's acme ('/etc/init.d/acme')"
    last_error = f" (last renewal error: {cert['last_error']})" if cert.get("last_error") else ""
    if not cert["present"]:
        return [Check("certificate", "certificate", "fail", "no certificate", f"run 'mailctl ssl-setup'{last_error}")]
    ends = cert["certificate"]["not_after"]
    if cert["expired"]:
        return [
            Check(
                "certificate",
                "certificate",
                "fail",
                f"expired {ends}{last_error}",
                f"renew it now: {renew}; clients and servers refuse it",
            )
        ]
    if cert["missing_names"]:
        return [
            Check(
                "certificate",
                "certificate",
                "warn",
                f"does not cover {', '.join(cert['missing_names'])}",
                "run 'mailctl ssl-setup --force' for a certificate with every name",
            )
        ]
    if cert["warning"] or cert["failures"]:
        detail = f"{cert['days_left']:g} days left, {cert['failures']} failed renewal(s){last_error}"
        return [Check("certificate", "certificate", "warn", detail, f"fix the renewal error, then {renew}")]
    return [Check("certificate", "certificate", "ok", f"valid until {ends} ({cert['days_left']:g} days left), "
                                                      f"next renewal {cert['next_renewal']}")]  # fmt: skip


def _disk_rows(settings: Settings) -> Result:
    path = settings.main.data_path
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return [Check("disk", "disk space", "fail", f"{path}: {exc.strerror}", "mount or create main.data_path")]
    rows: Result = []
    hint = f"free space below {path}: delete old mail or move data_path to a bigger disk"
    if st.f_blocks:
        used = 100.0 * (st.f_blocks - st.f_bavail) / st.f_blocks
        free = st.f_bavail * st.f_frsize / 2**20
        state = _level(used)
        rows.append(Check("disk", "disk space", state, f"{path}: {used:.0f} % used, {free:.0f} MiB free",
                          "" if state == "ok" else hint))  # fmt: skip
    if st.f_files:
        used = 100.0 * (st.f_files - st.f_favail) / st.f_files
        state = _level(used)
        rows.append(Check("inodes", "inodes", state, f"{path}: {used:.0f} % of the inodes used",
                          "" if state == "ok" else hint))  # fmt: skip
    else:
        rows.append(Skip("inodes", "inodes", f"the file system of {path} has no inode limit"))
    return rows


def _memory_fit_rows(settings: Settings, **paths: str) -> Result:
    from secumail.appliance import memfit

    room = memfit.room_mb(**paths)
    if room is None:
        return [Skip("memory.fit", "memory fit", "the host's memory cannot be read (/proc/meminfo)")]
    problem = memfit.problem(settings, **paths)
    if problem is not None:
        return [Check("memory.fit", "memory fit", "warn", problem, memfit.HINT)]
    return [Check("memory.fit", "memory fit", "ok",
                  f"container.memory {settings.container.memory} MiB fits: {room[1]} = {room[0]} MiB")]


def _backup_rows(settings: Settings) -> Result:
    from secumail.mesh import state

    if not settings.mesh.enabled:
        why = "mailserver.mesh.enabled is 0: no backups ('mailctl mesh enable')"
        return [Skip("backup", "last backup", why), Skip("peers", "backup peers", why)]
    interval = settings.mesh.sync_interval
    own = state.own_backup(settings.main.data_path)
    rows: Result = []
    if own["last"] is None:
        rows.append(Check("backup", "last backup", "warn", "no backup yet", "run 'mailctl mesh backup'"))
    else:
        age = time.time() - own["last"]
        said = f"{_ago(age)} ago, repository {own['bytes'] / 2**20:.1f} MiB"
        late = age > 2 * interval
        rows.append(
            Check(
                "backup",
                "last backup",
                "warn" if late else "ok",
                said,
                "is secumaild running? see 'mailctl jobs' and 'mailctl mesh backup'" if late else "",
            )
        )
    peers = state.peer_rows(settings)
    if not peers:
        rows.append(Check("peers", "backup peers", "warn", "no pinned peer: the backups stay on this router",
                          "pin a peer: 'mailctl mesh add-peer NODE_ID HOST'"))  # fmt: skip
        return rows
    down = [p["name"] or p["node_id"][:12] for p in peers if not p["up"]]
    if down:
        rows.append(Check("peers", "backup peers", "warn", f"not reached at the last try: {', '.join(down)} "
                                                           f"({len(peers) - len(down)} of {len(peers)} up)",
                          "check that those routers are on and their address in 'mailctl mesh peers'"))  # fmt: skip
    else:
        rows.append(Check("peers", "backup peers", "ok", f"all {len(peers)} reached at the last try"))
    return rows


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- the slow ones, each in its thread ------------------------------------------------------------


def _dns_rows(settings: Settings, status: dict[str, Any]) -> Result:
    """dns-check's own result, split into the records, PTR vs HELO, outbound port 25 and the relays."""
    from secumail.dns.check import check
    from secumail.errors import SecumailError

    try:
        result = check(settings)
    except SecumailError as exc:
        rows: Result = [
            Check(
                "dns.records",
                "DNS records",
                "warn",
                f"dns-check could not run: {exc}",
                "check mailserver.dns (server, resolver) and that they answer: 'mailctl dns-check'",
            )
        ]
        return rows + _recorded_port25(settings, status)
    bad = [r for r in result["records"] if r["status"] != "ok"]
    bad_checks = [c for c in result["checks"] if c["required"] and c["status"] == "fail"]
    if bad or bad_checks:
        shown = [f"{r['type']} {r['name']} {r['status']}" for r in bad] + [c["check"] for c in bad_checks]
        state = "fail" if result["failed"] else "warn"
        rows = [
            Check(
                "dns.records",
                "DNS records",
                state,
                "; ".join(shown[:4]) + (" …" if len(shown) > 4 else ""),
                "run 'mailctl dns-setup' (or publish what 'mailctl dns-setup --dry-run' lists)",
            )
        ]
    else:
        rows = [Check("dns.records", "DNS records", "ok", f"{len(result['records'])} records as expected")]
    for row in result["checks"]:
        if row["check"].startswith("PTR "):
            rows.append(
                _from_dns_check(
                    "dns.ptr",
                    "PTR vs HELO",
                    row,
                    "ask the line's provider to set the address's PTR to the mail host name",
                )
            )
        elif row["check"] == "outbound port 25":
            relay = settings.default_relay
            hint = ("configure a relay for outbound mail (docs/relay.md)" if relay is None else
                    f"mail goes through relay {relay.name}; nothing to do if it works")  # fmt: skip
            rows.append(_from_dns_check("outbound.port25", "outbound port 25", row, hint))
        elif row["check"].startswith("relay "):
            rows.append(
                _from_dns_check(
                    f"relay.{row['check'].split()[1]}",
                    row["check"],
                    row,
                    "run 'mailctl relay test' and check its login",
                )
            )
    return rows


def _from_dns_check(ident: str, name: str, row: dict[str, Any], hint: str) -> Check | Skip:
    if row["status"] == "skipped":
        return Skip(ident, name, row["detail"])
    state = row["status"] if row["status"] in STATES else "warn"
    return Check(ident, name, state, row["detail"], "" if state == "ok" else hint)


def _recorded_port25(settings: Settings, status: dict[str, Any]) -> Result:
    """dns-check did not run: the port-25 probe it recorded last (what status shows)."""
    from secumail.mail.outbound import BLOCKED_STATES

    port25 = status["delivery"].get("port25")
    if not port25:
        return [Skip("outbound.port25", "outbound port 25", "not probed yet (dns.smtp_probe, 'mailctl dns-check')")]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(port25.get("checked") or 0)))
    blocked = port25["state"] in BLOCKED_STATES and settings.default_relay is None
    return [Check("outbound.port25", "outbound port 25", "warn" if blocked else "ok",
                  f"at the last dns-check ({when}): {port25['detail']}",
                  "configure a relay for outbound mail (docs/relay.md)" if blocked else "")]  # fmt: skip


def _dnsbl_rows(settings: Settings) -> Result:
    """The public IPv4 address looked up in each blocklist of protection.dnsbl (the allow lists aside)."""
    from secumail.dns import wire
    from secumail.dns.local import public_addresses
    from secumail.errors import ProviderError

    lists = [z for z in (_dnsbl_zone(site) for site in settings.protection.dnsbl) if z]
    if not lists:
        return [Skip("dnsbl", "DNS blocklists", "protection.dnsbl has no blocklist to ask")]
    if not settings.dns.resolver:
        return [Skip("dnsbl", "DNS blocklists", "set mailserver.dns.resolver to ask the blocklists")]
    ipv4 = public_addresses(settings)[0]
    if not ipv4:
        return [Skip("dnsbl", "DNS blocklists", "no public IPv4 address known (mailserver.dns.public_ipv4)")]
    resolvers = [wire.parse_server(a) for a in settings.dns.resolver]
    asker = wire.Asker(DNSBL_SECONDS / 2, total=DNSBL_SECONDS - 0.5)
    reversed_ip = ".".join(reversed(str(ipv4).split(".")))
    listed, silent = [], []
    for zone in lists:
        try:
            _, answer, _ = asker.query(resolvers[0], f"{reversed_ip}.{zone}", "A", recursion=True)
        except ProviderError:
            silent.append(zone)
            continue
        codes = [v for v in (answer.values if answer else ()) if v.startswith("127.") and not v.startswith("127.255.")]
        if codes:
            listed.append(f"{zone} ({', '.join(codes)})")
    if listed:
        return [
            Check(
                "dnsbl",
                "DNS blocklists",
                "fail",
                f"{ipv4} is listed on {'; '.join(listed)}",
                "mail to others is refused: find out why on the list's web site and ask for delisting",
            )
        ]
    if silent:
        return [
            Check(
                "dnsbl",
                "DNS blocklists",
                "warn",
                f"no answer from {', '.join(silent)} for {ipv4}",
                "check mailserver.dns.resolver (public resolvers are refused by some lists)",
            )
        ]
    return [Check("dnsbl", "DNS blocklists", "ok", f"{ipv4} is on none of {', '.join(lists)}")]


def _dnsbl_zone(site: str) -> str | None:
    """The zone of a postscreen site 'zone[=filter][*weight]'; None for an allow list (negative weight)."""
    zone, _, weight = site.partition("*")
    if weight.startswith("-"):
        return None
    return zone.split("=", 1)[0]


def _open_relay_rows(settings: Settings) -> Result:
    """From the host, as a stranger: a recipient elsewhere must be refused (never gets to DATA)."""
    import smtplib

    port = settings.ports.smtp
    if not port:
        return [Skip("relay.open", "open relay", "port 25 is off")]
    host = "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)
    if settings.container.network_mode == "host":
        return [Skip("relay.open", "open relay", "network_mode host: local clients may relay by design")]
    with smtplib.SMTP(host, port, local_hostname="diagnose.invalid", timeout=SMTP_SECONDS) as smtp:
        smtp.ehlo()
        smtp.mail("")
        code, said = smtp.rcpt("relay-test@relay-test.example")
        smtp.rset()
    text = said.decode("utf-8", "replace")
    if code == 250:
        return [
            Check(
                "relay.open",
                "open relay",
                "fail",
                f"a stranger's mail to another domain was accepted ({code} {text})",
                "stop the server now: spammers find open relays in hours; check smtpd_relay_restrictions",
            )
        ]
    state = "ok" if 500 <= code < 600 else "warn"
    return [
        Check(
            "relay.open",
            "open relay",
            state,
            f"relaying refused to a stranger ({code} {text})",
            "" if state == "ok" else "the refusal was temporary: see 'mailctl logs'",
        )
    ]


def _queue_rows(settings: Settings) -> Result:
    from secumail.appliance.queue import queue_list

    entries = queue_list(settings, timeout=QUEUE_SECONDS)
    if not entries:
        return [Check("queue", "queue", "ok", "empty")]
    now = time.time()
    oldest = min(entries, key=lambda e: e.get("arrival") or now)
    age = now - float(oldest.get("arrival") or now)
    held = [e for e in entries if e["queue"] == "hold"]
    deferred = [e for e in entries if e["queue"] == "deferred"]
    said = f"{len(entries)} message(s), {len(deferred)} deferred, {len(held)} held; the oldest is {_ago(age)} old"
    reason = next((e["reason"] for e in deferred if e["reason"]), "")
    if reason:
        said += f" ({reason})"
    hint = "'mailctl queue list' shows why; 'mailctl queue flush' retries, 'mailctl queue delete ID' gives up"
    if age > STUCK_HOURS * 3600:
        return [Check("queue", "queue", "fail", said, hint)]
    if deferred or held:
        return [Check("queue", "queue", "warn", said, hint)]
    return [Check("queue", "queue", "ok", said)]


def _clock_rows(confdir: str | None) -> Result:
    """The clock against the NTP servers OpenWrt itself uses (UCI system.ntp.server)."""
    from secumail.system import sntp

    servers = _ntp_servers(confdir)
    if not servers:
        return [Skip("clock", "clock", "no NTP server in UCI system.ntp (list server)")]
    problems = []
    for server in servers[:2]:
        try:
            skew = sntp.offset(server, timeout=NTP_SECONDS / 2)
        except (OSError, ValueError) as exc:
            problems.append(f"{server}: {exc}")
            continue
        state = "fail" if abs(skew) >= SKEW_FAIL else "warn" if abs(skew) >= SKEW_WARN else "ok"
        return [
            Check(
                "clock",
                "clock",
                state,
                f"{skew:+.2f} s from {server}",
                "" if state == "ok" else "is sysntpd running? ('/etc/init.d/sysntpd restart')",
            )
        ]
    return [
        Check(
            "clock",
            "clock",
            "warn",
            "no NTP server answered: " + "; ".join(problems),
            "check UCI system.ntp.server and that UDP port 123 goes out",
        )
    ]


def _ntp_servers(confdir: str | None) -> list[str]:
    from secumail.config import confdir as default_confdir
    from secumail.uci.api import Uci

    try:
        with Uci(confdir=default_confdir(confdir)) as uci:
            servers = uci.get("system", "ntp", "server")
    except Exception:  # noqa: BLE001 - no system package (not OpenWrt), or no ntp section
        return []
    # names are looked up by the system resolver: they are the router's own setting
    return [servers] if isinstance(servers, str) else [str(s) for s in servers or ()]
