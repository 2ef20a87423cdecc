"""The mail log: the Postfix, Dovecot and ClamAV logs merged, read on the host side; rotated when due."""

from __future__ import annotations

import logging
import os
import re

from secumail.appliance.spec import container_for, installed, rootfs_path
from secumail.config.settings import Settings

_LOG_FILES = ("var/log/mail.log", "var/log/dovecot.log")  # secumail.mail.logrotate.LOGS rotates these
# ClamAV's own logs (features.virus_scan; ClamAV rotates them itself), and the program each line is from:
# their lines read "Sun Dec  6 02:45:58 2026 -> text", shown as "Dec  6 02:45:58 clamd: text".
_CLAMAV_LOGS = {
    "var/log/clamav/clamav.log": "clamd",
    "var/log/clamav/clamav-milter.log": "clamav-milter",
    "var/log/clamav/freshclam.log": "freshclam",
}
_CLAMAV_STAMP = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) \d{4} -> ?(.*)$")
_STAMP = re.compile(r"^([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d)")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                          "Dec"))}  # fmt: skip


def _order(line: str) -> tuple:
    match = _STAMP.match(line)
    if not match:
        return (99, "")
    stamp = match.group(1)
    return (_MONTHS.get(stamp[:3], 99), stamp[4:].replace(" ", "0", 1))


def _clamav_line(line: str, program: str) -> str:
    match = _CLAMAV_STAMP.match(line)
    return f"{match.group(1)} {program}: {match.group(2)}" if match else f"{program}: {line}"


def logs(settings: Settings, lines: int = 50) -> list[str]:
    """The last `lines` lines of the Postfix, Dovecot and ClamAV logs, merged in time order (read on the host
    side, so they are there even when the container is stopped)."""
    from secumail.mail.logrotate import tail, tail_with_rotated

    installed(settings)
    rootfs = rootfs_path(settings)
    merged = []
    for rel in _LOG_FILES:  # after a rotation the rest of the lines are in <log>.1
        merged.extend(tail_with_rotated(os.path.join(rootfs, rel), lines))
    for rel, program in _CLAMAV_LOGS.items():  # absent unless virus scanning ever ran
        merged.extend(_clamav_line(line, program) for line in tail(os.path.join(rootfs, rel), lines))
    merged.sort(key=_order)  # stable: lines of one file keep their order within a second
    return merged[-lines:]


def rotate_logs(settings: Settings) -> list[str]:
    """Rotate the container's mail.log/dovecot.log once they reach mailserver.main.log_size_limit MiB
    (one old file kept; the services reopen theirs). Cheap when nothing is due (two stat calls): meant
    for every pass of the daemon's loop. Returns the rotated logs (rootfs-relative)."""
    from secumail.mail import logrotate

    rootfs = rootfs_path(settings)
    max_bytes = settings.main.log_size_limit * 1024 * 1024
    if not logrotate.due(rootfs, max_bytes):
        return []
    from secumail.appliance.metrics import count_logs
    from secumail.errors import SecumailError

    try:  # the metrics' counters read up to here first: a second rotation would lose lines
        count_logs(settings)
    except SecumailError as exc:  # the counters may miss lines; the logs must not grow without bound
        logging.getLogger(__name__).warning("metrics: cannot count the logs before rotating them: %s", exc)
    container = container_for(settings)
    executor = container if container.exists() and container.running() else None
    return logrotate.rotate(rootfs, max_bytes, executor)
