"""`mailctl --json status` wall time, median of 20 runs (goal ≤ 150 ms), beside a bare interpreter."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import summary_ms, update_section, wall_times  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    tmp = tempfile.mkdtemp()
    try:
        env = dict(os.environ, SECUMAIL_CONFDIR=os.path.join(tmp, "config"),
                   SECUMAIL_SAVEDIR=os.path.join(tmp, "save"), PYTHONPATH=REPO)  # fmt: skip
        mailctl = shutil.which("mailctl", path=os.path.dirname(sys.executable))
        argv = [mailctl] if mailctl else [sys.executable, "-m", "secumail.cli"]
        status = wall_times([*argv, "--json", "status"], 20, env)
        bare = wall_times([sys.executable, "-c", "pass"], 20, env)
        # The appliance of `make demo`, when it runs here: status then probes every port and reads cgroups.
        live = None
        if os.path.exists("/etc/config/mailserver") and os.path.isdir("/srv/lxc/mailserver"):
            live = wall_times([*argv, "--json", "--confdir", "/etc/config", "status"], 20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verdict = "meets" if statistics.median(status) <= 0.150 else "misses"
    body = "\n".join([
        "| command | wall time |",
        "| --- | --- |",
        f"| `{os.path.basename(argv[0])} --json status` (no container installed) | {summary_ms(status)} |",
        *([f"| `{os.path.basename(argv[0])} --json status` (demo appliance running, no daemon) | {summary_ms(live)} |"]
          if live else []),
        f"| `python3 -c pass` (interpreter start, for scale) | {summary_ms(bare)} |",
        "",
        f"Goal ≤ 150 ms: {verdict} it.",
    ])  # fmt: skip
    update_section("cli-status", "mailctl status start-up", body)
    print(body)


if __name__ == "__main__":
    main()
