"""The container reconciler: a failed start backs off further starts, never a stop the user asked for."""

from __future__ import annotations

import time

from secumail.daemon.reconcile import Reconciler
from tests.support.settings import make_settings


class Jobs:
    def __init__(self) -> None:
        self.started: list[str] = []

    def active(self, name: str) -> bool:
        return False

    def start(self, name: str, args: dict, origin: str = "api") -> None:
        self.started.append(name)


class Agent(Reconciler):
    def __init__(self) -> None:
        self.jobs = Jobs()  # type: ignore[assignment]
        self.not_before = {}

    def _watch_container(self, s) -> None:
        pass

    def _unwatch_container(self) -> None:
        pass

    def _rotate_logs(self, s) -> None:
        pass


def test_disabled_main_stops_the_container_while_starts_back_off(tmp_path):
    agent = Agent()
    agent.not_before["container-up"] = time.monotonic() + 600  # the last start failed
    agent._reconcile_container(make_settings(tmp_path, main={"enabled": False}), "RUNNING")
    assert agent.jobs.started == ["container-down"]


def test_a_failed_start_is_not_retried_before_its_backoff(tmp_path):
    agent = Agent()
    agent.not_before["container-up"] = time.monotonic() + 600
    agent._reconcile_container(make_settings(tmp_path, main={"enabled": True}), "STOPPED")
    assert agent.jobs.started == []
    agent.not_before["container-up"] = time.monotonic() - 1  # backoff over
    agent._reconcile_container(make_settings(tmp_path, main={"enabled": True}), "STOPPED")
    assert agent.jobs.started == ["container-up"]


def test_a_stopped_container_is_left_alone_while_another_process_holds_the_lifecycle_lock(tmp_path):
    """mailctl update in a shell stops the container for its switch: secumaild must not start it then."""
    import subprocess
    import sys

    settings = make_settings(tmp_path, main={"enabled": True})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom secumail.appliance import lifelock\nfrom tests.support.settings "
         "import make_settings\nwith lifelock.exclusive(make_settings(sys.argv[1], main={'enabled': True})):\n"
         "    print('held', flush=True)\n    sys.stdin.read()", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        agent = Agent()
        agent._reconcile_container(settings, "STOPPED")
        assert agent.jobs.started == []
    finally:
        holder.communicate("", timeout=10)
    agent._reconcile_container(settings, "STOPPED")  # the switch is over
    assert agent.jobs.started == ["container-up"]
