"""`mailctl metrics`: the appliance in Prometheus' text format (docs/operating.md lists every metric).

Counters come from the mail logs (secumail.mail.logcount says what a line counts for). Their
totals, and how far each log was read (inode and offset), are kept in
data_path/metrics/state.json, so they survive restarts of the daemons and of the agent; a
rotated log's rest is read from its .1 file (secumail.mail.fail2ban.LogFollower), and the
daemon counts before it rotates (appliance.logs.rotate_logs), so no line is lost or counted
twice. The gauges are what `mailctl status` computes, plus the queue's oldest message, the
fail2ban bans and the backups.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from secumail.config.settings import Settings
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.appliance.hourly import Ring

STATE_VERSION = 1
MAX_READS = 256  # 1 MiB per log per read: a bound, not a limit in practice


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | gauge
    help: str
    samples: tuple[tuple[dict[str, str], float], ...]


# name (without secumail_ and _total) -> help; the counters the logs feed
_COUNTER_HELP = {
    "received": "Messages Postfix accepted into its queue (SMTP, submission, local pickup).",
    "sent": "Deliveries that succeeded, one per recipient (into a mailbox or to another server).",
    "bounced": "Deliveries that failed for good, one per recipient.",
    "deferred": "Delivery attempts that failed for now, one per recipient and attempt.",
    "rejected": "SMTP transactions refused (recipient, sender, client, blocklist, milter).",
    "spam_rejected": "Messages the spam filter refused at SMTP time.",
    "auth_failures": "Failed logins (Postfix SASL and Dovecot).",
}
_COUNTER_NAME = {"received": "messages_received", "sent": "messages_sent", "bounced": "messages_bounced",
                 "deferred": "messages_deferred", "rejected": "messages_rejected",
                 "spam_rejected": "spam_rejected", "auth_failures": "auth_failures"}  # fmt: skip


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {"version": STATE_VERSION, "files": {}, "totals": {}}
    if (
        not isinstance(data, dict)
        or data.get("version") != STATE_VERSION
        or not all(isinstance(data.get(key), dict) for key in ("files", "totals"))
    ):
        return {"version": STATE_VERSION, "files": {}, "totals": {}}
    return data


def count_logs(settings: Settings, queue: int | None = None) -> dict[str, int]:
    """Read the mail logs from where the last call stopped, add to the totals, save; return them.
    What the totals grew by goes into the current hour's bucket (secumail.appliance.hourly), and so
    does `queue` (the queue's size) when given."""
    path = settings.layout.metrics_state
    try:
        return _count(settings, path, queue)
    except OSError as exc:
        raise SecumailError(f"metrics: cannot keep the counters in {path}: {exc.strerror or exc}") from None


def _count(settings: Settings, path: str, queue: int | None) -> dict[str, int]:
    from secumail.mail import logcount
    from secumail.mail.fail2ban import LogFollower, container_logs
    from secumail.system.files import file_lock, write_json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with file_lock(path + ".lock"):
        state = _load(path)
        logs = container_logs(settings)
        positions = {}
        for log in logs:
            saved = state["files"].get(log)
            if isinstance(saved, dict):
                positions[log] = (saved.get("inode"), int(saved.get("offset", 0)))
        follower = LogFollower(logs, from_end=False, positions=positions)
        totals = {name: int(state["totals"].get(name, 0)) for name in logcount.COUNTERS}
        before = dict(totals)
        for _ in range(MAX_READS):
            for line in follower.read():
                for name, value in logcount.count(line).items():
                    totals[name] += value
            if not follower.behind():
                break
        state["files"] = {log: {"inode": inode, "offset": offset} for log, (inode, offset)
                          in follower.positions().items()}  # fmt: skip
        state["totals"] = totals
        state["updated"] = time.time()
        write_json(path, state)
        _add_hour(settings.layout.metrics_hours, (before, totals), queue)
    return totals


def _add_hour(path: str, counts: tuple[dict[str, int], dict[str, int]], queue: int | None) -> None:
    """The totals' growth (before and after this read) into the hourly ring (the caller holds the lock)."""
    from secumail.appliance import hourly
    from secumail.system.files import atomic_write

    ring = read_hours(path)
    now = time.time()
    hourly.add(ring, now, counts[1], before=counts[0])
    if queue is not None:
        hourly.sample_queue(ring, now, queue)
    atomic_write(path, hourly.encode(ring), 0o600)


def read_hours(path: str) -> Ring:
    """The hourly ring in `path` (secumail.appliance.hourly.Ring); empty when missing or unreadable."""
    from secumail.appliance import hourly

    try:
        with open(path, "rb") as handle:
            return hourly.decode(handle.read(hourly.SIZE + 1))
    except OSError:
        return hourly.Ring()


def collect(settings: Settings) -> list[Metric]:
    from secumail.appliance.status import collect_status
    from secumail.mesh import state as mesh_state

    totals = count_logs(settings)
    metrics = [Metric(f"secumail_{_COUNTER_NAME[name]}_total", "counter", help_text, (({}, totals[name]),))
               for name, help_text in _COUNTER_HELP.items()]  # fmt: skip
    status = collect_status(settings)

    def gauge(name: str, help_text: str, *samples: tuple[dict[str, str], float | None]) -> None:
        kept = tuple((labels, float(value)) for labels, value in samples if value is not None)
        if kept:
            metrics.append(Metric(f"secumail_{name}", "gauge", help_text, kept))

    running = status["container"]["state"] == "RUNNING"
    gauge("up", "1 when the mail container runs.", ({}, 1 if running else 0))
    gauge("service_up", "1 when the service answers (its port or milter socket).",
          *(({"service": name}, 1 if up else 0) for name, up in status["services"].items()))  # fmt: skip
    memory = status["container"].get("memory") or {}
    gauge("container_memory_bytes", "Memory the container's cgroup uses.", ({}, memory.get("used")))
    gauge("container_memory_limit_bytes", "The container's memory limit (0: none).", ({}, memory.get("limit")))
    cpu = status["container"].get("cpu_seconds")
    if cpu is not None:
        metrics.append(Metric("secumail_container_cpu_seconds_total", "counter",
                              "CPU time the container used since it started.", (({}, cpu),)))  # fmt: skip
    gauge("queue_messages", "Messages in Postfix's queue.", ({}, status.get("queue")))
    if running:
        gauge("queue_oldest_seconds", "Age of the oldest queued message (0: empty).", ({}, _oldest(settings)))
    gauge("certificate_days_left", "Days until the certificate expires (negative: expired).",
          ({}, (status.get("certificate") or {}).get("days_left")))  # fmt: skip
    gauge("banned_sources", "Addresses (IPv6: /64 networks) fail2ban bans now.", ({}, _banned(settings)))
    if settings.mesh.enabled:
        own = mesh_state.own_backup(settings.main.data_path)
        age = time.time() - own["last"] if own["last"] is not None else None
        gauge("backup_age_seconds", "Seconds since the last backup snapshot.", ({}, age))
        gauge("backup_bytes", "Bytes this node's backup repository takes.", ({}, own["bytes"]))
        peers = mesh_state.peer_rows(settings)
        gauge("peers", "Pinned backup peers.", ({}, len(peers)))
        gauge("peers_reachable", "Pinned peers reached at the last try.", ({}, sum(1 for p in peers if p["up"])))
    return metrics


def _oldest(settings: Settings) -> float | None:
    from secumail.appliance.queue import queue_list
    from secumail.errors import SecumailError

    try:
        entries = queue_list(settings, timeout=10)
    except (SecumailError, ValueError):
        return None
    arrivals = [float(e["arrival"]) for e in entries if e.get("arrival")]
    return max(0.0, time.time() - min(arrivals)) if arrivals else 0.0


def _banned(settings: Settings) -> int | None:
    from secumail.mail.fail2ban import NftBanner

    if not settings.features.fail2ban:
        return None
    return NftBanner().banned()


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""

    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escaped(v)}"' for k, v in sorted(labels.items())) + "}"


def render(metrics: list[Metric]) -> str:
    """Prometheus text exposition format 0.0.4."""
    out = []
    for metric in metrics:
        out.append(f"# HELP {metric.name} {metric.help}")
        out.append(f"# TYPE {metric.name} {metric.kind}")
        out.extend(f"{metric.name}{_labels(labels)} {_number(value)}" for labels, value in metric.samples)
    return "\n".join(out) + "\n"


def as_json(metrics: list[Metric]) -> list[dict[str, Any]]:
    return [{"name": m.name, "type": m.kind, "help": m.help,
             "samples": [{"labels": labels, "value": value} for labels, value in m.samples]}
            for m in metrics]  # fmt: skip


def write_textfile(path: str, text: str) -> None:
    """Atomically, world-readable (a node exporter reads it; nothing secret in it)."""
    from secumail.system.files import atomic_write

    with contextlib.suppress(FileExistsError):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, text, 0o644)
