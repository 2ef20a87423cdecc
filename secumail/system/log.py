"""Logging: to syslog (logd on OpenWrt) when /dev/log exists, and/or stderr.

Never log a secret: callers pass names and outcomes, not passwords or keys.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

_configured = False


def setup_logging(ident: str = "secumail", debug: bool = False, stderr: bool = False, tool: bool = False) -> None:
    """Configure the root logger once per process.

    Records go to syslog whenever /dev/log exists (so what mailctl changed is in
    `logread` too), and to stderr when asked or when there is no syslog. A
    command-line `tool` prints its own results: only warnings reach its stderr.
    """
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    have_syslog = False
    if os.path.exists("/dev/log"):
        try:
            syslog = logging.handlers.SysLogHandler(
                address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
        except OSError:  # a stale socket with no logger behind it
            pass
        else:
            syslog.setFormatter(logging.Formatter(f"{ident}[%(process)d]: %(levelname)s %(message)s"))
            root.addHandler(syslog)
            have_syslog = True
    if stderr or not have_syslog:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"{ident}: %(levelname)s %(message)s"))
        if tool and not debug:
            handler.setLevel(logging.WARNING)
        root.addHandler(handler)
