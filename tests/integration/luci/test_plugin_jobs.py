"""The rpcd plugin's long methods against a real secumaild: start a job, poll jobShow, see the result."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.luciplugin import Plugin
from tests.support.paths import REPO
from tests.support.procs import terminate
from tests.support.settings import write_small_config

pytestmark = pytest.mark.integration


@pytest.fixture
def agent(tmp_path):
    """A secumaild on its own run dir and confdir (data_path in tmp; the container stays off)."""
    conf, data = write_small_config(tmp_path)
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/sbin:/usr/bin:/sbin:/bin",
        "SECUMAIL_CONFDIR": str(conf),
        "SECUMAIL_SAVEDIR": str(tmp_path / "save"),
        "SECUMAIL_RUNDIR": str(tmp_path / "run"),
        "SECUMAIL_MAILCTL": "",
        "PYTHONPATH": REPO,
        "HOME": str(tmp_path),
    }
    log = open(tmp_path / "secumaild.log", "w")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen([sys.executable, "-m", "secumail.daemon", "--stderr"], env=env, cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)
    socket = tmp_path / "run" / "control.sock"
    deadline = time.monotonic() + 15
    while not socket.exists():
        assert daemon.poll() is None, (tmp_path / "secumaild.log").read_text()
        assert time.monotonic() < deadline, "secumaild did not open its control socket"
        time.sleep(0.05)
    plugin = Plugin({**env, "SECUMAIL_MAILCTL": ""})
    plugin.data = data
    try:
        yield plugin
    finally:
        terminate(daemon)
        log.close()


# A job's start and its progress return at once (the work is secumaild's); 5 s leaves room for a loaded
# 2-core machine and is still far from a job done inside the call.
QUICK = 5.0


def _wait(plugin: Plugin, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        reply = plugin.call("jobShow", {"id": job_id})
        assert reply.seconds < QUICK
        job = reply.data
        assert job["id"] == job_id and job["state"] in ("queued", "running", "done", "failed"), job
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_backup_then_restore_as_jobs(agent):
    (agent.data / "mail").mkdir(parents=True, exist_ok=True)
    (agent.data / "mail" / "note.txt").write_text("kept by the backup\n")
    started = agent.call("meshBackup")
    assert started.seconds < QUICK and set(started.data) == {"id"}, started.data
    job = _wait(agent, started.data["id"])
    assert job["state"] == "done" and job["name"] == "backup", job
    assert job["progress"]["percent"] == 100

    snaps = agent.call("listSnapshots").data["result"]
    assert [s["name"] for s in snaps] == [job["result"]["snapshot"]]

    (agent.data / "mail" / "note.txt").write_text("changed after the backup\n")
    restore = agent.call("meshRestore", {"snapshot": snaps[0]["id"]})
    job = _wait(agent, restore.data["id"])
    assert job["state"] == "done", job
    assert (agent.data / "mail" / "note.txt").read_text() == "kept by the backup\n"

    names = [j["name"] for j in agent.call("jobList").data["result"]]
    assert names.count("backup") == 1 and names.count("restore") == 1


def test_a_failed_job_keeps_its_state_and_one_line_error(agent):
    started = agent.call("meshRestore", {"snapshot": "0123456789ab"})
    job = _wait(agent, started.data["id"])
    assert job["state"] == "failed" and job["failed"] is True
    assert job["error"] and "\n" not in job["error"] and "Traceback" not in job["error"]


def test_unknown_job_id_is_a_json_error(agent):
    reply = agent.call("jobShow", {"id": "999-999"}).data
    assert reply["code"] in (1, 2) and "999-999" in reply["error"]
