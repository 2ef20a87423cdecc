"""Write one section of bench/RESULTS.md, stamped with the machine and the date.

Each benchmark script owns a section between `<!-- bench:NAME -->` markers and
rewrites only that, so figures from different runs stay side by side.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Sequence

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
HEADER = (
    "# Benchmark results\n\n"
    "Each section says which machine and date its figures come from. Reproduce with `make bench`.\n"
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node() or 'host'}: {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, " \
           f"{platform.system()} {platform.release()}, Python {platform.python_version()}"  # fmt: skip


def stamp() -> str:
    return f"_Measured {datetime.date.today().isoformat()} on {machine()}._"


def update_section(name: str, title: str, body: str) -> None:
    text = HEADER
    if os.path.exists(RESULTS):
        with open(RESULTS) as handle:
            text = handle.read()
    block = f"<!-- bench:{name} -->\n## {title}\n\n{stamp()}\n\n{body.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    with open(RESULTS, "w") as handle:
        handle.write(text.rstrip("\n") + "\n")


def wall_times(argv: Sequence[str], runs: int, env: dict | None = None, warmup: int = 2) -> list[float]:
    """Wall seconds of `runs` whole-process runs of argv (after `warmup` unmeasured ones)."""
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def summary_ms(times: Sequence[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"median {statistics.median(ms):.1f} ms (min {ms[0]:.1f}, max {ms[-1]:.1f}, n={len(ms)})"
