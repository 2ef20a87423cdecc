"""The host's memory, as the kernel reports it (what a feature's memory need is checked against)."""

from __future__ import annotations

MEMINFO = "/proc/meminfo"


def host_memory_mb(meminfo: str = MEMINFO) -> int | None:
    """MemTotal in MiB, None when it cannot be read (not Linux, no /proc)."""
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
