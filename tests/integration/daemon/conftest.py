"""The daemon tests' fixture: secumaild instances in tmp dirs (tests/integration/daemon/secumaild.py),
stopped and their workers killed at the end."""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.daemon.secumaild import Daemon, write_config
from tests.support.procs import descendants


@pytest.fixture
def make_daemon(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("secumaild's control socket is root only: run the integration tests as root")
    started: list[Daemon] = []

    def make(env: dict[str, str] | None = None, extra_config: str = "", args: tuple[str, ...] = (),
             enabled: str = "0") -> Daemon:  # fmt: skip
        d = Daemon(str(tmp_path), env, args)
        write_config(d.confdir, d.data_path, d.lxc_path, extra_config, enabled)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()
        for pid in descendants(d.proc.pid) if d.proc else []:
            os.kill(pid, signal.SIGKILL)
