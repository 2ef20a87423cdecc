"""Named one-shot timers on a heap: the daemon sleeps until the earliest one.

Each name has at most one pending timer; setting it again replaces it (the old
heap entry is skipped lazily), so the heap never grows beyond the live timers
plus the replaced ones not yet popped, which `pop_due` drops as it passes them.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, tuple[float, int]] = {}
        self._seq = itertools.count()

    def at(self, name: str, when: float) -> None:
        """Fire `name` at clock time `when`, replacing any timer of that name."""
        seq = next(self._seq)
        self._live[name] = (when, seq)
        heapq.heappush(self._heap, (when, seq, name))
        if len(self._heap) > 4 * len(self._live) + 16:
            self._compact()

    def after(self, name: str, delay: float) -> None:
        self.at(name, self.clock() + max(0.0, delay))

    def cancel(self, name: str) -> None:
        self._live.pop(name, None)

    def pending(self) -> dict[str, float]:
        """{name: seconds from now} of the live timers."""
        now = self.clock()
        return {name: when - now for name, (when, _seq) in self._live.items()}

    def next_delay(self) -> float | None:
        """Seconds until the earliest live timer (0 if overdue), None when there is none."""
        self._drop_stale()
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self.clock())

    def pop_due(self) -> list[str]:
        """Names whose time has come, earliest first; they are removed."""
        now = self.clock()
        due = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return due
            _when, _seq, name = heapq.heappop(self._heap)
            del self._live[name]
            due.append(name)

    def __len__(self) -> int:
        return len(self._live)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2], (None, None))[1] != heap[0][1]:
            heapq.heappop(heap)

    def _compact(self) -> None:
        self._heap = [(when, seq, name) for name, (when, seq) in self._live.items()]
        heapq.heapify(self._heap)
