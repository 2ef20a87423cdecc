"""The host's memory, as the kernel reports it (what a feature's memory need is checked against)."""

from __future__ import annotations

MEMINFO = "/proc/meminfo"
CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"


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


def cgroup_limit_mb(cgroup_root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> int | None:
    """The lowest memory limit (MiB) on this process's cgroup and its parents (cgroup v2, or v1's
    memory controller); None when there is none or it cannot be read."""
    try:
        with open(self_cgroup, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            return _lowest(cgroup_root, parts[2], "memory.max")
        if "memory" in parts[1].split(","):
            return _lowest(cgroup_root + "/memory", parts[2], "memory.limit_in_bytes")
    return None


def _lowest(base: str, path: str, name: str) -> int | None:
    limits = []
    parts = [p for p in path.split("/") if p]
    for depth in range(len(parts), -1, -1):
        try:
            with open("/".join([base, *parts[:depth], name]), encoding="ascii") as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 says "no limit" with a huge number, v2 with "max"
            limits.append(int(text) // 2**20)
    return min(limits) if limits else None
