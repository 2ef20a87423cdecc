"""A ring of hourly buckets for 30 days: what the log counters grew by each hour, and the queue.

Pure: bytes in, bytes out (docs/operating.md, "The hourly history", gives the format). The caller
(secumail.appliance.charts) reads and writes the file under the counters' lock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"SMHR"
VERSION = 1
SLOTS = 720  # 30 days
HOUR = 3600
COUNTS = ("received", "sent", "rejected", "deferred", "bounced")
NO_SAMPLE = 0xFFFFFFFF
_HEADER = struct.Struct("<4sHHII5Q")
_BUCKET = struct.Struct("<I5II")
SIZE = _HEADER.size + SLOTS * _BUCKET.size
_MAX = 0xFFFFFFFE  # a bucket's count stops there rather than wrapping


@dataclass
class Ring:
    """Slot h % SLOTS holds hour h when buckets[slot][0] == h; anything else there is an empty hour."""

    last_hour: int = 0
    baseline: tuple[int, ...] | None = None
    buckets: list[list[int]] = field(default_factory=lambda: [[0] * 6 + [NO_SAMPLE] for _ in range(SLOTS)])

    def bucket(self, hour: int) -> list[int] | None:
        found = self.buckets[hour % SLOTS]
        return found if found[0] == hour and hour > 0 else None


def decode(data: bytes) -> Ring:
    """The ring in `data`; an empty ring when it is not one (missing, truncated, another version)."""
    if len(data) != SIZE:
        return Ring()
    magic, version, slots, last_hour, flags, *baseline = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or slots != SLOTS:
        return Ring()
    buckets = [list(_BUCKET.unpack_from(data, _HEADER.size + i * _BUCKET.size)) for i in range(SLOTS)]
    return Ring(last_hour, tuple(baseline) if flags & 1 else None, buckets)


def encode(ring: Ring) -> bytes:
    baseline = ring.baseline if ring.baseline is not None else (0,) * len(COUNTS)
    parts = [_HEADER.pack(MAGIC, VERSION, SLOTS, ring.last_hour, 1 if ring.baseline is not None else 0, *baseline)]
    parts.extend(_BUCKET.pack(*bucket) for bucket in ring.buckets)
    return b"".join(parts)


def _current(ring: Ring, now: float) -> list[int]:
    """The bucket counts go into now, after the clock rules (docs/operating.md); created empty if new."""
    hour = int(now // HOUR)
    if ring.last_hour and hour < ring.last_hour:
        if hour >= ring.last_hour - 1:
            hour = ring.last_hour  # a small correction: keep counting into the newest bucket
        else:  # the buckets after now were the wrong clock's
            for bucket in ring.buckets:
                if bucket[0] > hour:
                    bucket[:] = [0] * 6 + [NO_SAMPLE]
            ring.last_hour = hour
    ring.last_hour = max(ring.last_hour, hour)
    slot = ring.buckets[hour % SLOTS]
    if slot[0] != hour:
        slot[:] = [hour] + [0] * 5 + [NO_SAMPLE]
    return slot


def add(ring: Ring, now: float, totals: dict[str, int], before: dict[str, int] | None = None) -> None:
    """Add what `totals` (the log counters) grew by since the baseline to the bucket of `now`. A ring
    without a baseline yet takes `before` (the totals before the read that gave `totals`), if known."""
    values = tuple(int(totals.get(name, 0)) for name in COUNTS)
    previous, ring.baseline = ring.baseline, values
    if previous is None and before is not None:
        previous = tuple(int(before.get(name, 0)) for name in COUNTS)
    bucket = _current(ring, now)  # an hour counted, even with nothing in it, is an hour with data
    if previous is None or any(v < p for v, p in zip(values, previous)):
        return  # first update, or the counters were reset: nothing known to add
    for i, (value, before) in enumerate(zip(values, previous), start=1):
        bucket[i] = min(_MAX, bucket[i] + value - before)


def sample_queue(ring: Ring, now: float, size: int) -> None:
    _current(ring, now)[6] = min(_MAX, max(0, int(size)))


def hours(ring: Ring, now: float, count: int = 24) -> list[dict[str, int | None]]:
    """The last `count` hours, oldest first, the current one last; an hour with no data has None counts."""
    last = int(now // HOUR)
    rows = []
    for hour in range(last - count + 1, last + 1):
        bucket = ring.bucket(hour)
        row: dict[str, int | None] = {"start": hour * HOUR}
        for i, name in enumerate(COUNTS, start=1):
            row[name] = bucket[i] if bucket else None
        row["queue"] = bucket[6] if bucket and bucket[6] != NO_SAMPLE else None
        rows.append(row)
    return rows


def days(ring: Ring, now: float, count: int = 30) -> list[dict[str, int | None]]:
    """The last `count` UTC days, oldest first: each count summed over the day's hours with data
    (None when none had), the queue as its largest sample."""
    today = int(now // 86400)
    rows = []
    for day in range(today - count + 1, today + 1):
        found = [b for b in (ring.bucket(day * 24 + h) for h in range(24)) if b is not None]
        row: dict[str, int | None] = {"start": day * 86400, "hours": len(found)}
        for i, name in enumerate(COUNTS, start=1):
            row[name] = sum(b[i] for b in found) if found else None
        queues = [b[6] for b in found if b[6] != NO_SAMPLE]
        row["queue"] = max(queues) if queues else None
        rows.append(row)
    return rows
