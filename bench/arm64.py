"""arm64 on this PC under emulation: the image build, its size, and the appliance's cold start to the
SMTP banner, each beside the host's own architecture measured in the same run.

    nice bench/arm64.py build   # both images from nothing in a scratch cache dir (arm64: ~11 min here)
    nice bench/arm64.py start   # images from the shared cache (built when missing), 3 cold starts each

Build: `cache.debian_image` as `mailctl install` runs it (arm64: debootstrap --foreign, the second stage
and the package installation under qemu-user-static through binfmt_misc). Start: an appliance driven by
mailctl (tests/integration/service/appliance.py, the light path), `mailctl stop` then `mailctl --json start`
three times; its banner_seconds is container start + init + services until port 25 answers.
Each writes its own section of bench/RESULTS.md. Needs root, LXC, qemu-user-static.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)

from results import update_section  # noqa: E402

from secumail.container import cache  # noqa: E402
from secumail.container.provision import debian  # noqa: E402
from tests.integration.service.appliance import Appliance, appliance_world  # noqa: E402

SCRATCH = "/var/tmp/secumail-arm64-bench"
LIGHT_PATH = "\nconfig features 'features'\n\toption spam_filter '0'\n\toption sender_checks '0'\n"


def du_mb(path: str) -> float:
    out = subprocess.run(["du", "-s", "--block-size=1", path], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1e6


def build(arch: str) -> dict[str, float]:
    """Seconds of each phase and the sizes of an image built from nothing in a scratch cache dir."""
    lines: list[str] = []
    cache_dir = os.path.join(SCRATCH, "build", f"cache-{arch}")
    rootfs = os.path.join(SCRATCH, "build", f"rootfs-{arch}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    began = time.monotonic()
    cache.debian_image(cache_dir, rootfs, arch=arch, progress=lambda line: lines.append(line))
    total = time.monotonic() - began
    phases = {}
    for line in lines:
        found = re.match(r"(debootstrap done|packages installed|image \w+ built) in (\d+) s", line)
        if found:
            phases[found.group(1).split()[0]] = float(found.group(2))
    tarballs = [os.path.join(cache_dir, f) for f in os.listdir(cache_dir) if f.endswith((".tar.zst", ".tar.gz"))]
    figures = {"total": total, "debootstrap": phases["debootstrap"], "packages": phases["packages"],
               "tarball_mb": os.path.getsize(tarballs[0]) / 1e6, "unpacked_mb": du_mb(rootfs)}  # fmt: skip
    shutil.rmtree(cache_dir, ignore_errors=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    return figures


def starts(arch: str, runs: int = 3) -> dict[str, object]:
    """Install from the shared cache, then `runs` cold starts: banner seconds and mailctl's wall time."""
    appliance = Appliance(f"{SCRATCH}/start/appliance-{arch or 'host'}", "smarmb", "smarmb0", "10.248.0",
                          domain="bench.test", arch=arch, memory_mb=1024 if arch else 0, uci=LIGHT_PATH)  # fmt: skip
    with appliance_world(appliance) as world:
        began = time.monotonic()
        world.mailctl("--json", "install", timeout=3 * 3600)
        install = time.monotonic() - began
        banners, walls = [], []
        for _ in range(runs):
            world.mailctl("stop", timeout=120)
            began = time.monotonic()
            started = json.loads(world.mailctl("--json", "start", timeout=300).stdout)
            walls.append(time.monotonic() - began)
            banners.append(started["banner_seconds"])
    return {"install": install, "banner": banners, "wall": walls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("build", "start"))
    what = parser.parse_args().what
    host = debian.host_arch()
    os.makedirs(os.path.join(SCRATCH, what), exist_ok=True)
    rows = []
    totals = {}
    for arch in ("arm64", host):
        if what == "build":
            fig = build(arch)
            totals[arch] = fig["total"]
            print(f"build {arch}: {fig}", flush=True)
            cells = (f"{fig['total'] / 60:.1f} min", f"{fig['debootstrap']:.0f} s", f"{fig['packages']:.0f} s",
                     f"{fig['tarball_mb']:.0f} MB", f"{fig['unpacked_mb']:.0f} MB")  # fmt: skip
            rows.append(f"| {arch} | {' | '.join(cells)} |")
        else:
            fig = starts("" if arch == host else arch)
            totals[arch] = statistics.median(fig["banner"])
            print(f"start {arch}: {fig}", flush=True)
            rows.append(f"| {arch} | {fig['install']:.0f} s | {' / '.join(f'{s:.2f}' for s in fig['banner'])} s "
                        f"| {' / '.join(f'{s:.1f}' for s in fig['wall'])} s |")  # fmt: skip
    shutil.rmtree(os.path.join(SCRATCH, what), ignore_errors=True)
    if what == "build":
        body = (f"`nice bench/arm64.py build` on this {host} host: `cache.debian_image` from an empty cache dir "
                "(bookworm minbase + the mail packages; arm64 in debootstrap's two stages, the second stage and "
                "every maintainer script under qemu-user-static). Tarball: zstd, as cached and as "
                "`mailctl image build` writes it.\n\n"
                "| arch | build | debootstrap | packages | tarball | unpacked |\n"
                "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
                + f"\n\narm64 under emulation / {host} native: build time ×{totals['arm64'] / totals[host]:.1f}."
                )  # fmt: skip
        update_section("arm64-build", "arm64 image built on a PC (container.arch arm64)", body)
    else:
        body = (f"`nice bench/arm64.py start` on this {host} host: an appliance driven by mailctl (light path; arm64 "
                "with container.memory 1024, every emulated process carries qemu), `mailctl install` from the "
                "cached image, then 3 × (`mailctl stop`, `mailctl --json start`). Goal for the cold start: ≤ 3 s "
                "natively; the emulated figure is reported, not a goal.\n\n"
                "| arch | install from cache | cold start to SMTP banner | `mailctl start` wall |\n"
                "| --- | --- | --- | --- |\n" + "\n".join(rows))  # fmt: skip
        verdict = "meets" if totals[host] <= 3 else "misses"
        body += (f"\n\nEmulated / native cold start (medians): ×{totals['arm64'] / totals[host]:.1f}; native "
                 f"{totals[host]:.2f} s {verdict} the 3 s goal.")  # fmt: skip
        update_section("arm64-start", "arm64 under emulation: cold start to the SMTP banner", body)


if __name__ == "__main__":
    main()
