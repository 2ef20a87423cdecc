"""How far an import is: messages and bytes done of the planned totals, the rate, the time left."""

from __future__ import annotations

import time
from typing import Callable

Report = Callable[[str, "int | None"], None]  # a line and the percent done (by bytes)
MIB = 1024 * 1024


def size_text(count: float) -> str:
    return f"{count / MIB:.1f} MiB"


def duration_text(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """Counts what was copied (or found there already) against the plan; reports at most every `every` s."""

    def __init__(self, report: Report | None, *, messages: int, size: int, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.report = report
        self.total_messages = messages
        self.total_bytes = size
        self.messages = 0
        self.bytes = 0
        self.every = every
        self.clock = clock
        self.started = clock()
        self._last = float("-inf")

    def percent(self) -> int:
        if self.total_bytes:
            return min(100, int(100 * self.bytes / self.total_bytes))
        return 100 if not self.total_messages else min(100, int(100 * self.messages / self.total_messages))

    def line(self, folder: str) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = self.bytes / elapsed
        text = (f"{folder}: {self.messages}/{self.total_messages} messages, "
                f"{self.bytes / MIB:.1f}/{size_text(self.total_bytes)}")  # fmt: skip
        if self.bytes and elapsed >= 1:
            text += f", {size_text(rate)}/s"
            left = (self.total_bytes - self.bytes) / rate if rate else 0
            text += f", ETA {duration_text(left)}"
        return text

    def advance(self, folder: str, size: int, *, force: bool = False) -> None:
        self.messages += 1
        self.bytes += size
        self.show(folder, force=force)

    def show(self, folder: str, *, force: bool = False) -> None:
        now = self.clock()
        if self.report is None or (not force and now - self._last < self.every):
            return
        self._last = now
        self.report(self.line(folder), self.percent())
