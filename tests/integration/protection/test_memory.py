"""What the container with the spam filter on costs in memory: the cgroup's peak and current use and the
resident memory of Rspamd's and Redis's processes (docs/protection.md, "Memory")."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def _cgroup_dir(pid: int) -> tuple[str, int]:
    """The container's memory cgroup directory and version, from its init process."""
    with open(f"/proc/{pid}/cgroup") as handle:
        for line in handle.read().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return f"/sys/fs/cgroup/memory{path}", 1
    return f"/sys/fs/cgroup{path}", 2


def _read(directory: str, name: str) -> int:
    with open(os.path.join(directory, name)) as handle:
        return int(handle.read().strip())


def _stat(directory: str) -> dict[str, int]:
    with open(os.path.join(directory, "memory.stat")) as handle:
        return {k: int(v) for k, v in (line.split() for line in handle)}


def cgroup_memory(world) -> dict[str, int]:
    """MiB: peak, current, and the anonymous part of current (what cannot be dropped like page cache)."""
    directory, version = _cgroup_dir(world.lxc.container.pid())
    stat = _stat(directory)
    if version == 1:
        peak, current = _read(directory, "memory.max_usage_in_bytes"), _read(directory, "memory.usage_in_bytes")
        anon = stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_shmem", stat.get("shmem", 0))
    else:
        peak, current = _read(directory, "memory.peak"), _read(directory, "memory.current")
        anon = stat.get("anon", 0) + stat.get("shmem", 0)
    return {"peak": peak >> 20, "current": current >> 20, "anon": anon >> 20}


def _rollup(pid: str) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in handle if line.split()[-1:] == ["kB"]}
    except (OSError, ValueError, IndexError):
        return None
    return fields.get("Rss", 0), fields.get("Pss", 0)


def process_memory(world) -> dict[str, tuple[int, int]]:
    """KiB of RSS and PSS summed per command name over the container's processes (read from the host,
    which may read every process's smaps, unlike root inside the container)."""
    directory, _ = _cgroup_dir(world.lxc.container.pid())
    pids: set[str] = set()
    for root, _, names in os.walk(directory):
        if "cgroup.procs" in names:
            with open(os.path.join(root, "cgroup.procs")) as handle:
                pids.update(handle.read().split())
    out: dict[str, tuple[int, int]] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        memory = _rollup(pid)
        if memory is None:
            continue
        before = out.get(name, (0, 0))
        out[name] = (before[0] + memory[0], before[1] + memory[1])
    return out


def test_spam_filter_memory_fits_the_default_limit(protected):
    used = cgroup_memory(protected)
    procs = process_memory(protected)
    rspamd = {k: v for k, v in procs.items() if k.startswith("rspamd")}
    pss_total = sum(pss for _, pss in procs.values()) >> 10
    print(f"\ncgroup MiB {used}; PSS total {pss_total} MiB; rspamd (RSS, PSS KiB) {rspamd}; "
          f"redis {procs.get('redis-server')}; all {sorted(procs.items(), key=lambda i: -i[1][1])[:12]}")
    from secumail.config.settings import SPAM_FILTER_MEMORY_MB as need

    assert used["peak"] < need, (used, need)
    assert pss_total < need, (pss_total, need)
