"""secumaild: the resident agent — a scheduler and a reconcile loop of a few MB.

It reads /etc/config/mailserver and makes the world match: the container runs
iff main.enabled, the mail config is rendered again when UCI changes (SIGHUP
from procd), DNS drift is checked and certificates renewed daily, mesh backup +
sync run every mesh.sync_interval, fw4 rules follow the enabled ports, and
fail2ban bans addresses that keep failing to log in. Heavy work runs in worker
processes (secumail.daemon.worker). mailctl and the rpcd plugin talk to it over
a root-only Unix socket (secumail.daemon.client).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secumaild", description="secumail agent (run by procd)")
    parser.add_argument("--foreground", action="store_true", help="stay in the foreground (procd; the default)")
    parser.add_argument("--confdir", help="UCI config directory (default /etc/config)")
    parser.add_argument("--debug", action="store_true", help="log debug lines")
    parser.add_argument("--stderr", action="store_true", help="log to stderr instead of syslog")
    parser.add_argument("--time-scale", type=float, default=float(os.environ.get("SECUMAIL_TIME_SCALE") or 1),
                        help=argparse.SUPPRESS)  # fmt: skip  # tests and bench: run the schedule N times faster
    parser.add_argument("--reconcile-interval", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from secumail.system.files import tighten_umask

    tighten_umask()  # workers and the SFTP service inherit it

    from secumail.errors import SecumailError
    from secumail.system.log import setup_logging

    setup_logging("secumaild", debug=args.debug, stderr=args.stderr or not os.path.exists("/dev/log"))
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if args.debug else logging.INFO)  # a daemon's log is for the log
    from secumail.daemon.agent import RECONCILE_INTERVAL, Daemon

    try:
        daemon = Daemon(args.confdir, time_scale=args.time_scale,
                        reconcile_interval=args.reconcile_interval or RECONCILE_INTERVAL)  # fmt: skip
        return daemon.run()
    except SecumailError as exc:
        logging.getLogger("secumaild").error("%s", exc)
        sys.stderr.write(f"secumaild: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
