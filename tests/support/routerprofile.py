"""A cgroup shaped like a 512 MB router that leaves half to OpenWrt: one memory limit for the agent, its
workers and the mail container together, no swap, CPU at a reduced quota of one core (tests and bench).

cgroup v1 (memory and cpu mounted apart, as on this test host) or v2 (OpenWrt's procd). The container
joins through `container.cgroup` = `Profile.name` (LXC's lxc.cgroup.dir), the rest through `prefix()`.

    with Profile("secumail-router") as profile:
        subprocess.run([*profile.prefix(), "mailctl", "install"])
        profile.reset_peak(); ...; profile.peak(), profile.oom_kills()
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

ROOT = "/sys/fs/cgroup"
MEMORY_MIB = 256
CPU_QUOTA = 0.5  # of one core: one core of a router is slower than one of this PC


def cgroup_version() -> int | None:
    """1 when the v1 memory and cpu controllers are mounted, 2 on a unified hierarchy, else None."""
    if os.path.isdir(f"{ROOT}/memory") and os.path.isdir(f"{ROOT}/cpu"):
        return 1
    if os.path.exists(f"{ROOT}/cgroup.controllers"):
        return 2
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


def pss_kib(pid: int) -> int:
    """Proportional set size of one process (KiB), 0 once it is gone."""
    try:
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Profile:
    def __init__(self, name: str, memory_mib: int = MEMORY_MIB, cpu_quota: float = CPU_QUOTA) -> None:
        self.name = name
        self.memory_mib = memory_mib
        self.cpu_quota = cpu_quota
        self.version = cgroup_version()
        if self.version == 1:
            self.memory = f"{ROOT}/memory/{name}"
            self.dirs = [self.memory, f"{ROOT}/cpu/{name}"]
            self.agent = f"/{name}"  # where the agent's processes go (below the root)
        else:
            self.memory = f"{ROOT}/{name}"
            self.dirs = [self.memory]
            # v2: a cgroup that hands controllers to children (the container's) holds no processes itself
            self.agent = f"/{name}/agent"

    # -- set up / tear down ----------------------------------------------------------------------------

    def __enter__(self) -> Profile:
        if self.version is None:
            raise RuntimeError(f"no cgroup memory controller under {ROOT}")
        self.remove()
        limit = self.memory_mib * 1024 * 1024
        period = 100_000
        quota = int(period * self.cpu_quota)
        for directory in self.dirs:
            os.makedirs(directory, exist_ok=True)
        if self.version == 1:
            _write(f"{self.memory}/memory.limit_in_bytes", str(limit))
            with contextlib.suppress(OSError):  # absent without swap accounting: then there is no swap either
                _write(f"{self.memory}/memory.memsw.limit_in_bytes", str(limit))
            _write(f"{self.memory}/memory.swappiness", "0")
            _write(f"{ROOT}/cpu/{self.name}/cpu.cfs_period_us", str(period))
            _write(f"{ROOT}/cpu/{self.name}/cpu.cfs_quota_us", str(quota))
        else:
            _write(f"{ROOT}/cgroup.subtree_control", "+memory +cpu")
            _write(f"{self.memory}/memory.max", str(limit))
            _write(f"{self.memory}/memory.swap.max", "0")
            _write(f"{self.memory}/cpu.max", f"{quota} {period}")
            os.makedirs(f"{ROOT}{self.agent}", exist_ok=True)
            _write(f"{self.memory}/cgroup.subtree_control", "+memory +cpu")
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Move what still runs in the profile to the root, then remove its cgroups (children first)."""
        for directory in self.dirs:
            if not os.path.isdir(directory):
                continue
            root = os.path.dirname(directory)
            for path, _subdirs, _files in sorted(os.walk(directory), key=lambda walk: -walk[0].count("/")):
                with contextlib.suppress(OSError):
                    for pid in _read(f"{path}/cgroup.procs").split():
                        with contextlib.suppress(OSError):
                            _write(f"{root}/cgroup.procs", pid)
                with contextlib.suppress(OSError):
                    os.rmdir(path)

    def prefix(self) -> list[str]:
        """argv prefix that runs a command inside the profile (every cgroup of it), as procd would start it."""
        targets = self.dirs if self.version == 1 else [f"{ROOT}{self.agent}"]
        joins = " && ".join(f"echo $$ > {directory}/cgroup.procs" for directory in targets)
        return ["sh", "-c", f'{joins} && exec "$@"', "sh"]

    # -- what it holds ---------------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every process in the profile, its child cgroups (the container's) included."""
        found = []
        for path, _subdirs, _files in os.walk(self.memory):
            with contextlib.suppress(OSError):
                found += [int(pid) for pid in _read(f"{path}/cgroup.procs").split()]
        return found

    def pss_mib(self) -> float:
        return sum(pss_kib(pid) for pid in self.pids()) / 1024

    def cgroup_of(self, pid: int) -> str:
        """The memory cgroup `pid` is in (path below the root)."""
        for line in _read(f"/proc/{pid}/cgroup").splitlines():
            _, controllers, path = line.split(":", 2)
            if (self.version == 1 and "memory" in controllers.split(",")) or (self.version == 2 and not controllers):
                return path
        return ""

    def usage_mib(self) -> float:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        return int(_read(f"{self.memory}/{name}")) / 2**20

    def reset_peak(self) -> None:
        """Start a new peak (v1: max_usage_in_bytes; v2 before memory.peak was writable: sampled only)."""
        with contextlib.suppress(OSError):
            _write(f"{self.memory}/memory.max_usage_in_bytes" if self.version == 1 else f"{self.memory}/memory.peak",
                   "0")  # fmt: skip

    def peak_mib(self) -> float:
        """The kernel's peak charge since reset_peak: anonymous memory, page cache and kernel memory."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return int(_read(f"{self.memory}/{name}")) / 2**20

    def oom_kills(self) -> int:
        """Processes the kernel killed for this profile's limit, so far."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in _read(f"{self.memory}/{name}").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def swap_mib(self) -> float:
        """Swap the profile uses (0 when swap accounting is off: then the host has no swap in use for it)."""
        if self.version == 1:
            with contextlib.suppress(OSError):
                used = int(_read(f"{self.memory}/memory.memsw.usage_in_bytes")) - int(
                    _read(f"{self.memory}/memory.usage_in_bytes")
                )
                return max(used, 0) / 2**20
            return 0.0
        return int(_read(f"{self.memory}/memory.swap.current")) / 2**20


class PssPeak:
    """Samples the profile's summed PSS in a thread while a step runs: the peak of what its processes hold,
    without the page cache that the kernel's peak charge includes (and reclaims under the limit)."""

    def __init__(self, profile: Profile, interval: float = 0.25) -> None:
        self.profile = profile
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.profile.pss_mib())
            self._stop.wait(self.interval)

    def __enter__(self) -> PssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def step(profile: Profile, figures: dict, name: str):
    """Record one step: the kernel's peak charge, the sampled PSS peak, seconds, and OOM kills during it."""
    profile.reset_peak()
    kills = profile.oom_kills()
    began = time.monotonic()
    with PssPeak(profile) as sampled:
        yield
    figures[name] = {
        "peak_charge_mib": round(profile.peak_mib(), 1),
        "peak_pss_mib": round(sampled.peak, 1),
        "seconds": round(time.monotonic() - began, 1),
        "oom_kills": profile.oom_kills() - kills,
    }
