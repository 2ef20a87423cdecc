"""arm64 on this PC under emulation: the image build, its size, and the appliance's cold start to the
SMTP banner, each beside the host's own architecture measured in the same run.

    nice bench/arm64.py            # build both images into a scratch cache dir first (arm64: tens of minutes)
    nice bench/arm64.py --cached   # start figures only, images from the shared cache (built when missing)

Build: `cache.debian_image` as `mailctl install` runs it (arm64: debootstrap --foreign, the second stage
and the package installation under qemu-user-static through binfmt_misc). Start: an appliance driven by
mailctl (tests/integration/service/appliance.py, the light path), `mailctl stop` then `mailctl --json start`
three times; its banner_seconds is container start + init + services until port 25 answers.
Writes the arm64 section of bench/RESULTS.md. Needs root, LXC, qemu-user-static.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
    cache_dir = os.path.join(SCRATCH, f"cache-{arch}")
    rootfs = os.path.join(SCRATCH, f"rootfs-{arch}")
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
    appliance = Appliance(f"{SCRATCH}/appliance-{arch or 'host'}", "smarmb", "smarmb0", "10.248.0",
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
    parser.add_argument("--cached", action="store_true", help="skip the image builds")
    args = parser.parse_args()
    host = debian.host_arch()
    os.makedirs(SCRATCH, exist_ok=True)
    rows = []
    if not args.cached:
        for arch in ("arm64", host):
            fig = build(arch)
            print(f"build {arch}: {fig}", flush=True)
            rows.append(f"| image build, {arch} | {fig['total'] / 60:.1f} min (debootstrap {fig['debootstrap']:.0f} s, "
                        f"packages {fig['packages']:.0f} s) |")  # fmt: skip
            rows.append(f"| image size, {arch} | {fig['tarball_mb']:.0f} MB tarball (zstd), "
                        f"{fig['unpacked_mb']:.0f} MB unpacked |")  # fmt: skip
    for arch in ("arm64", ""):
        fig = starts(arch)
        name = arch or host
        print(f"start {name}: {fig}", flush=True)
        rows.append(f"| `mailctl install` from the cached image, {name} | {fig['install']:.0f} s |")
        rows.append(f"| cold start to SMTP banner, {name} (3 runs) | "
                    f"{' / '.join(f'{s:.2f}' for s in fig['banner'])} s (`mailctl start` wall: "
                    f"{' / '.join(f'{s:.1f}' for s in fig['wall'])} s) |")  # fmt: skip
    shutil.rmtree(SCRATCH, ignore_errors=True)
    body = ("`nice bench/arm64.py`" + (" --cached" if args.cached else "") + f": arm64 runs under qemu-user-static "
            f"(binfmt_misc, F flag) on this {host} host, the light path (features.spam_filter 0). "
            "Goal for the cold start: ≤ 3 s natively; the emulated figure is reported, not a goal.\n\n"
            "| what | figure |\n| --- | --- |\n" + "\n".join(rows))  # fmt: skip
    update_section("arm64", "arm64 under emulation (container.arch arm64 on a PC)", body)


if __name__ == "__main__":
    main()
