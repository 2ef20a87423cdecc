"""Where the daemon keeps its run-time files (tmpfs on OpenWrt: /var/run is /tmp/run)."""

from __future__ import annotations

import os

DEFAULT_RUNDIR = "/var/run/secumail"


def rundir() -> str:
    return os.path.abspath(os.environ.get("SECUMAIL_RUNDIR") or DEFAULT_RUNDIR)


def socket_path() -> str:
    return os.path.join(rundir(), "control.sock")


def pid_path() -> str:
    return os.path.join(rundir(), "secumaild.pid")


def state_path() -> str:
    return os.path.join(rundir(), "state.json")
