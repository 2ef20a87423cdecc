"""Logging: to syslog (logd on OpenWrt) when /dev/log exists, else stderr.

Never log a secret: callers pass names and outcomes, not passwords or keys.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

_configured = False


def setup_logging(ident: str = "secumail", debug: bool = False, stderr: bool = False) -> None:
    """Configure the root logger once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    if os.path.exists("/dev/log") and not stderr:
        handler: logging.Handler = logging.handlers.SysLogHandler(
            address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
        handler.setFormatter(logging.Formatter(f"{ident}[%(process)d]: %(levelname)s %(message)s"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"{ident}: %(levelname)s %(message)s"))
        # On a terminal the CLI prints its own results; keep routine log lines out of its way.
        if not debug:
            handler.setLevel(logging.WARNING)
    root.addHandler(handler)
