"""`mailctl update` downtime: the longest gap between accepted SMTP messages during an update.

Runs the integration test tests/integration/update/test_update.py::test_update_while_mail_flows_loses_nothing
(a real appliance; an outside sender on the host sends a message every 100 ms to port 25 for the
whole update, retrying refused connections like an MTA) $UPDATE_BENCH_RUNS times (default 1) and
records its figures: messages accepted and lost, the longest gap between two accepts, and the
update's switch time (old container stopped → new SMTP banner). Needs root; take
/tmp/sm-integration.lock around it when other integration runs share the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)

from bench.results import update_section  # noqa: E402

TEST = "tests/integration/update/test_update.py::test_update_while_mail_flows_loses_nothing"
FIGURES = "/tmp/secumail-update-figures.json"  # written by the test
RUNS = int(os.environ.get("UPDATE_BENCH_RUNS", "1"))


def one_run() -> dict:
    if os.path.exists(FIGURES):
        os.unlink(FIGURES)
    env = {**os.environ, "PYTHONPATH": ROOT}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-s", "-p", "no:cacheprovider", TEST],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)  # fmt: skip
    if res.returncode != 0 or not os.path.exists(FIGURES):
        sys.exit(f"the update test failed:\n{res.stdout[-3000:]}{res.stderr[-2000:]}")
    with open(FIGURES, encoding="utf-8") as handle:
        return json.load(handle)


def main() -> None:
    runs = [one_run() for _ in range(RUNS)]
    rows = "\n".join(
        f"| {i} | {r['accepted']} | {r['lost']} | {r['retries']} | {r['longest_gap_s']:.2f} s | {r['switch_s']:.2f} s "
        f"| {r['update_s']:.0f} s |" for i, r in enumerate(runs, 1))  # fmt: skip
    body = f"""
`mailctl update` (image from the image cache, self-test of the candidate beside the running
container, switch) while a sender on the host sends a message every 100 ms to the container's
port 25 for the whole update, retrying a refused connection every 100 ms like an MTA. Lost =
accepted (250) but afterwards neither in a mailbox nor in the queue. Longest gap = the longest
time between two accepted messages: the update's downtime as a sending MTA sees it (it includes
the 100 ms pace). Switch = from stopping the old container to the new one's SMTP banner, as the
update reports it. No peer tool is measured beside it: none here updates a running mail
container this way to compare against. Reproduce: `python3 bench/update_downtime.py` (root).

| run | accepted | lost | retries | longest gap | switch | whole update |
|---|---|---|---|---|---|---|
{rows}
"""
    update_section("update", "mailctl update: downtime while mail flows", body)
    print(body)


if __name__ == "__main__":
    main()
