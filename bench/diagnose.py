"""`mailctl diagnose` wall time on a healthy appliance, and with every DNS server unreachable.

Run as root: python bench/diagnose.py (brings up the simulated internet of tests/support/internet.py,
a few minutes; hold /tmp/sm-integration.lock on a shared machine). Appliance a.test as in
tests/integration/internet/test_operate.py (dns.smtp_probe b.test, protection.dnsbl bl.test*3), then
N runs of `mailctl --json diagnose` in its router's namespace: as is (every check answers), and with
the DNS answers (UDP and TCP from port 53) dropped on the router: the servers fall silent (the DNS
checks give up at their own timeouts; the goal is the issue's 15 s). N from $DIAGNOSE_BENCH_RUNS (5).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, REPO)
sys.path.insert(0, BENCH)

from results import update_section  # noqa: E402

from tests.support.internet import internet, sh  # noqa: E402

RUNS = int(os.environ.get("DIAGNOSE_BENCH_RUNS", "5"))
NO_DNS = """table ip smi_nodns {
    chain answers {
        type filter hook input priority filter; policy accept;
        udp sport 53 drop
        tcp sport 53 drop
    }
}
"""


def timed(site) -> tuple[list[float], dict]:  # noqa: ANN001
    times, report = [], {}
    for _ in range(RUNS):
        began = time.perf_counter()
        proc = site.mailctl("--json", "diagnose", check=False, timeout=120)
        times.append(time.perf_counter() - began)
        report = json.loads(proc.stdout)
    return times, report


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"


def main() -> None:
    with internet(log=print) as net:
        site = net.a
        site.mailctl("config", "set", "mailserver.dns.smtp_probe", "b.test")
        site.mailctl("config", "set", "mailserver.protection.dnsbl", "bl.test*3")
        healthy, report = timed(site)
        states = {c["status"] for c in report["checks"]}
        slowest = report["elapsed"]
        sh("ip", "netns", "exec", site.netns, "nft", "-f", "-", input=NO_DNS)
        try:
            silent, silent_report = timed(site)
        finally:
            sh("ip", "netns", "exec", site.netns, "nft", "delete", "table", "ip", "smi_nodns", check=False)
    warned = sorted(c["id"] for c in silent_report["checks"] if c["status"] != "ok")
    body = f"""
`python bench/diagnose.py`: `mailctl --json diagnose` (whole process, in the router's namespace) on
appliance a.test of the simulated internet (tests/support/internet.py): container and 8 ports, dns-check
against Knot and Unbound, PTR, the certificate, DNSBL (bl.test), the open-relay self-test on
port 25, the outbound port-25 probe, the queue (`postqueue -j`), disk, memory.

| case | wall time | checks |
| --- | --- | --- |
| healthy | {summary(healthy)} | {len(report["checks"])} checks, states {sorted(states)}; elapsed {slowest} s |
| every DNS answer dropped on the router | {summary(silent)} | not ok: {", ".join(warned)} |

Goal ≤ 15 s in both cases (total deadline 12 s, checks in parallel threads, each with its own timeout).
"""
    update_section("diagnose", "mailctl diagnose", body)
    print(body)


if __name__ == "__main__":
    main()
