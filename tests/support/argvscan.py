"""A /proc scanner for tests: no secret may reach any process's argv (anyone on the host can read it).

    with ArgvScanner(("known-password",)) as scanner:
        run_the_commands()
    assert scanner.seen == []                        # argv that held a known secret, as text
    assert scanner.holding(key_made_during_the_run) == []

Every process's /proc/PID/cmdline is read every 5 ms (any mailctl or worker run lives far longer);
each distinct argv is kept, so secrets that only exist after the run (keys it generated) can be
looked for afterwards.
"""

from __future__ import annotations

import os
import threading
import time


class ArgvScanner:
    def __init__(self, secrets: tuple[str, ...] = (), interval: float = 0.005) -> None:
        self.secrets = secrets
        self.interval = interval
        self.seen: list[str] = []
        self.cmdlines: set[bytes] = set()
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        raw = handle.read()
                except OSError:
                    continue
                if raw in self.cmdlines:
                    continue
                self.cmdlines.add(raw)
                cmdline = raw.decode(errors="replace")
                if any(secret in cmdline for secret in self.secrets):
                    self.seen.append(cmdline.replace("\0", " "))
            self.scans += 1
            time.sleep(self.interval)  # a whole core otherwise

    def holding(self, secret: bytes | str) -> list[str]:
        """Every argv seen that contains `secret`, as text."""
        needle = secret.encode() if isinstance(secret, str) else secret
        return [c.decode(errors="replace").replace("\0", " ") for c in self.cmdlines if needle in c]

    def ran(self, word: bytes | str) -> bool:
        """True when some argv seen contains `word` (proves the scan saw the run)."""
        return bool(self.holding(word))

    def __enter__(self) -> ArgvScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
