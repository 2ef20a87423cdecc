"""The appliance in a 512 MB router's budget: agent, workers and container in one 256 MiB cgroup, no swap,
half a core (tests/support/routerprofile.py); idle PSS and each step's peak beside the goals.

    python3 bench/router_profile.py [--messages 20000] [--workdir /var/tmp/secumail-bench] [--write]

Steps (tests/integration/service/routerworld.py): install, idle, mail round trip (SMTP in, IMAPS out), a
full `mailctl mesh backup` of data_path with a maildir corpus of --messages messages (tests/support/maildir.py,
cached in the workdir as bench/mesh_backup.py caches it), a certificate issuance (pebble, DNS-01 through
Knot), a DNS apply (`mailctl dns-setup`, RFC 2136) and the LuCI status call (the rpcd plugin's getStatus).
Needs root, LXC, the test image cache, knot and pebble. `--write` updates bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from mesh_backup import maildir  # noqa: E402
from results import update_section  # noqa: E402

from tests.integration.certs import world  # noqa: E402
from tests.integration.service.routerworld import router_appliance  # noqa: E402
from tests.support.routerprofile import CPU_QUOTA, MEMORY_MIB  # noqa: E402

IDLE_GOAL_MIB = 64
BACKUP_GOAL_MIB = 160


def measure(messages: int, workdir: str) -> dict:
    os.makedirs(workdir, exist_ok=True)
    corpus = maildir(workdir, messages)
    tmp = tempfile.mkdtemp(prefix="router-bench-")
    knot = world.start_knot(os.path.join(tmp, "knot"))
    pebble = world.start_pebble(os.path.join(tmp, "pebble"), f"{world.DNS_ADDR}:53")
    try:
        with router_appliance({"knot": knot, "pebble": pebble}) as router:
            assert router.install()["container"] == "RUNNING"
            router.idle()
            router.round_trip()
            backup = router.backup(messages, corpus_cache=corpus)
            router.certificate()
            router.dns_apply()
            router.luci_status()
            figures = dict(router.figures)
            figures["backup_detail"] = backup
            figures["oom_kills"] = router.profile.oom_kills()
            figures["version"] = router.profile.version
    finally:
        pebble.stop()
        knot.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def table(figures: dict, messages: int) -> str:
    idle = figures["idle"]
    backup = figures["mesh backup"]
    detail = figures["backup_detail"]
    rows = [
        f"Profile: cgroup v{figures['version']}, memory limit {MEMORY_MIB} MiB for secumaild, every mailctl and "
        f"worker, the rpcd plugin and the LXC container together (the container's cgroup is made below the "
        f"profile's: `container.cgroup`), swap 0 (memsw limit = memory limit, swappiness 0), CPU "
        f"{CPU_QUOTA:g} of one core (cfs quota). Light path (`features.spam_filter 0`): Rspamd alone needs 384 "
        f"MiB and was OOM-killed in this profile.",
        "",
        "PSS: summed over every process in the profile, sampled every 0.25 s during a step (short peaks can "
        "be missed). Kernel peak: `memory.max_usage_in_bytes`, reset before each step; it counts page cache, "
        "which fills the limit and is reclaimed there, so it sits at the limit whenever files are read.",
        "",
        "| step | peak PSS | kernel peak (incl. page cache) | seconds | OOM kills | goal |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| idle (agent + container), after 20 s | {idle['pss_mib']:.1f} MiB (agent {idle['agent_pss_mib']:.1f}, "
        f"container {idle['container_pss_mib']:.1f}) | {idle['charge_mib']:.1f} MiB charged | – | – "
        f"| ≤ {IDLE_GOAL_MIB} MiB PSS: {'met' if idle['pss_mib'] <= IDLE_GOAL_MIB else 'MISSED'} |",
    ]
    for name, step in figures.items():
        if not isinstance(step, dict) or "peak_pss_mib" not in step:
            continue
        goal = ""
        if name == "mesh backup":
            met = step["peak_pss_mib"] <= BACKUP_GOAL_MIB
            goal = f"≤ {BACKUP_GOAL_MIB} MiB: {'met' if met else 'MISSED'}"
        label = f"{name} ({messages:,} messages, {detail['bytes'] / 2**20:.0f} MiB)" if name == "mesh backup" else name
        rows.append(f"| {label} | {step['peak_pss_mib']:.1f} MiB | {step['peak_charge_mib']:.1f} MiB "
                    f"| {step['seconds']:.1f} | {step['oom_kills']} | {goal} |")  # fmt: skip
    rows += ["", f"OOM kills in the profile over the whole run: {figures['oom_kills']}. Backup: "
             f"{detail['files']:,} files, {detail['packs']} packs, {backup['seconds']:.1f} s at "
             f"{CPU_QUOTA:g} core."]  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--workdir", default="/var/tmp/secumail-bench")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (LXC, cgroups, Knot on port 53)")
    reason = world.ensure_packages()
    if reason:
        raise SystemExit(reason)
    body = table(measure(args.messages, args.workdir), args.messages)
    print(body)
    if args.write:
        update_section("router-profile", "Router profile: 256 MiB for the whole appliance", body)


if __name__ == "__main__":
    main()
