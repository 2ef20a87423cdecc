"""secumaild: the resident agent.

This first version validates the configuration, logs, re-reads it on SIGHUP
and exits cleanly on SIGTERM. The reconcile loop, scheduler, job API and
control socket come with the daemon issue; until then it does no work and
says so in its log.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

logger = logging.getLogger("secumaild")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="secumaild", description="secumail agent")
    parser.add_argument("--foreground", action="store_true", help="stay in the foreground (procd)")
    parser.add_argument("--confdir", help="UCI config directory (default /etc/config)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)

    from secumail.config import load_settings
    from secumail.errors import SecumailError
    from secumail.system.log import setup_logging

    setup_logging("secumaild", debug=args.debug)
    # Block the signals and take them synchronously: no handler races, no lost SIGHUP.
    wanted = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    received = signal.SIGHUP
    while received == signal.SIGHUP:
        try:
            settings = load_settings(args.confdir)
            logger.info("configuration loaded for %s (no reconcile loop in this version yet)", settings.main.fqdn)
        except SecumailError as exc:
            logger.error("%s", exc)
        received = signal.sigwait(wanted)
    logger.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
