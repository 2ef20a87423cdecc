"""secumaild end to end: signals, jobs in workers, the control socket, mailctl through it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest

from tests.integration.daemon.secumaild import dump
from tests.support.procs import environ_has
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def live_main_cf(data_path: str) -> str:
    with open(os.path.join(data_path, "config", "live", "postfix", "main.cf"), encoding="utf-8") as handle:
        return handle.read()


def test_uci_change_and_sighup_rerender_the_mail_config(make_daemon):
    d = make_daemon()
    os.makedirs(os.path.join(d.data_path, "config"))  # the mail layer is set up (as after `mailctl install`)
    d.start()
    d.wait_for(lambda: "message_size_limit = 52428800" in live_main_cf(d.data_path), what="first render")
    first = os.readlink(os.path.join(d.data_path, "config", "live"))
    # What `uci set mailserver.main.message_size_limit=20; uci commit` does, then procd's reload → SIGHUP.
    result = d.mailctl("config", "set", "mailserver.main.message_size_limit", "20")
    assert result.returncode == 0, result.stderr
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: "message_size_limit = 20971520" in live_main_cf(d.data_path), what="re-render after SIGHUP")
    assert os.readlink(os.path.join(d.data_path, "config", "live")) != first
    configure = lambda: [j["state"] for j in d.call("jobs.list") if j["name"] == "configure"]  # noqa: E731
    d.wait_for(lambda: configure() == ["done", "done"], what="two configure jobs done")
    assert "SIGHUP: re-reading the configuration" in d.logtext()
    # A change to a section the mail services do not read (DNS TTL) renders nothing.
    d.mailctl("config", "set", "mailserver.dns.ttl", "600")
    d.signal(signal.SIGHUP)
    # the loop is one thread: once the second SIGHUP is logged, jobs.list answers after its reconcile
    d.wait_for(lambda: d.logtext().count("SIGHUP: re-reading the configuration") == 2, what="the second SIGHUP")
    assert len([j for j in d.call("jobs.list") if j["name"] == "configure"]) == 2


def test_bad_config_on_sighup_keeps_the_daemon_and_the_old_settings(make_daemon):
    d = make_daemon().start()
    with open(os.path.join(d.confdir, "mailserver"), "a", encoding="utf-8") as handle:
        handle.write("\nconfig ports 'ports'\n\toption smtp 'seventy'\n")
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: "configuration not loaded: mailserver.ports.smtp" in d.logtext(), what="error line")
    assert d.call("daemon.info")["settings_error"].startswith("mailserver.ports.smtp")
    assert d.call("status")["config"]["domain"] == "example.org"


def test_crashing_scheduled_worker_is_logged_and_retried_with_backoff(make_daemon):
    # A scheduled job every 600 s whose worker raises; time runs 60x faster (backoff 60 s → 1 s, 2 s, ...).
    d = make_daemon(env={"SECUMAIL_DAEMON_TEST_SCHEDULE": "_test-crash:600"}, args=("--time-scale", "60"))
    d.start()
    failed = d.wait_for(
        lambda: (lambda js: js if len(js) >= 3 else None)(
            [j for j in d.call("jobs.list") if j["name"] == "_test-crash" and j["state"] == "failed"]),
        timeout=30, what="three failed runs")  # fmt: skip
    assert all(j["error"] == "internal error in _test-crash: ZeroDivisionError: integer division or modulo by zero"
               for j in failed)  # fmt: skip
    gaps = [b["started"] - a["started"] for a, b in zip(failed, failed[1:])]
    assert gaps[1] > gaps[0] * 1.5, f"no backoff between retries: {gaps}"
    assert "failed; retrying in" in d.logtext()
    assert "ZeroDivisionError" in d.logtext()  # the traceback is in the log (debug), not in the job
    assert d.call("daemon.info")["pid"] == d.proc.pid


def test_killed_worker_is_a_failed_job_and_the_daemon_stays(make_daemon):
    d = make_daemon().start()
    job = d.call("jobs.start", {"name": "_test-sleep", "args": {"seconds": 30}})
    d.wait_for(lambda: d.children(), what="the worker")
    for pid in d.children():
        os.kill(pid, signal.SIGKILL)
    done = d.wait_job(job["id"])
    assert done["state"] == "failed"
    assert done["error"] == "the _test-sleep worker was killed by SIGKILL"
    assert d.call("status")["config"]["domain"] == "example.org"


def test_sigterm_stops_cleanly_with_no_stray_process(make_daemon):
    d = make_daemon().start()
    for n in (1, 2):  # different args: two jobs (the same name and args would be the same job)
        d.call("jobs.start", {"name": "_test-sleep", "args": {"seconds": 60, "n": n}})
    queued = d.call("jobs.start", {"name": "_test-sleep", "args": {"seconds": 5}})
    d.wait_for(lambda: len(d.children()) >= 2, what="two workers")
    assert d.call("jobs.show", {"id": queued["id"]})["state"] == "queued"  # two workers at most
    workers = d.children()
    t = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0
    assert time.monotonic() - t < 15
    marker = f"SECUMAIL_RUNDIR={d.rundir}".encode()

    def strays() -> list[str]:
        return [p for p in os.listdir("/proc") if p.isdigit() and environ_has(int(p), marker)]

    with contextlib.suppress(AssertionError):  # a worker may take a moment to die after its parent
        wait_until(lambda: not strays(), timeout=5)
    assert strays() == [], f"processes left behind: {strays()}"
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert not os.path.exists(os.path.join(d.rundir, "control.sock"))
    assert "stopping: 2 job(s) running" in d.logtext()


def test_mailctl_status_through_the_socket_equals_the_direct_json(make_daemon):
    d = make_daemon()
    direct = d.mailctl("--json", "status")  # no daemon yet: computed by mailctl itself
    assert direct.returncode == 0, direct.stderr
    d.start()
    before = d.call("daemon.info")["requests"].get("status", 0)
    via = d.mailctl("--json", "status")
    assert via.returncode == 0, via.stderr
    assert d.call("daemon.info")["requests"].get("status", 0) == before + 1  # it did ask the daemon
    assert dump(json.loads(via.stdout)) == dump(json.loads(direct.stdout))
    # a config change without any signal is seen by the next status (mtime), as a direct read would see it
    d.mailctl("config", "set", "mailserver.main.domain", "example.net")
    via2 = json.loads(d.mailctl("--json", "status").stdout)
    assert via2["config"]["domain"] == "example.net"


def test_mailctl_jobs_commands(make_daemon):
    d = make_daemon()
    down = d.mailctl("jobs", "list")
    assert down.returncode == 1
    assert down.stderr.strip().count("\n") == 0 and "secumaild is not running" in down.stderr
    d.start()
    started = d.mailctl("jobs", "start", "_test-sleep", "--args", '{"seconds": 0.5}')
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    waited = d.mailctl("--json", "jobs", "start", "_test-sleep", "--args", '{"seconds": 0.6}', "--wait")
    assert waited.returncode == 0, waited.stderr
    result = json.loads(waited.stdout)
    assert result["state"] == "done" and result["result"] == {"slept": 0.6}
    shown = json.loads(d.mailctl("--json", "jobs", "show", job_id).stdout)
    assert shown["id"] == job_id and shown["name"] == "_test-sleep"
    assert set(shown) >= {"id", "name", "state", "progress", "result", "error", "started", "finished"}
    listed = json.loads(d.mailctl("--json", "jobs", "list").stdout)
    assert job_id in [j["id"] for j in listed]
    failing = d.mailctl("jobs", "start", "_test-fail", "--args", '{"message": "nothing to do"}', "--wait")
    assert failing.returncode == 1 and "error:    nothing to do" in failing.stdout
    unknown = d.mailctl("jobs", "start", "frobnicate")
    assert unknown.returncode == 2 and unknown.stderr.startswith("mailctl: unknown job 'frobnicate'")
    bad = d.mailctl("jobs", "start", "dns-check", "--args", "[1]")
    assert bad.returncode == 2 and "--args must be a JSON object" in bad.stderr
    missing = d.mailctl("jobs", "show", "nope")
    assert missing.returncode == 2 and "no job with id 'nope'" in missing.stderr


def test_protocol_errors_and_root_only_socket(make_daemon):
    import socket

    d = make_daemon().start()
    mode = os.stat(os.path.join(d.rundir, "control.sock")).st_mode & 0o777
    assert mode == 0o600 and os.stat(d.rundir).st_mode & 0o777 == 0o700
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(d.rundir, "control.sock"))
    sock.sendall(b'not json\n{"method": "nope"}\n{"method": "jobs.list"}\n')
    data = b""
    while data.count(b"\n") < 3:
        data += sock.recv(65536)
    lines = [json.loads(line) for line in data.splitlines()]
    assert lines[0] == {"error": "the request is not JSON", "code": 2}
    assert lines[1]["code"] == 2 and "unknown method 'nope'" in lines[1]["error"]
    assert isinstance(lines[2], list)
    sock.close()
    # a non-root peer is refused (SO_PEERCRED), even if it could reach the socket
    child = os.fork()
    if child == 0:  # pragma: no cover - child process
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX)
            s.connect(os.path.join(d.rundir, "control.sock"))
            os._exit(3)
        except PermissionError:
            os._exit(0)
        except Exception:
            os._exit(4)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the 0700 dir keeps it out before SO_PEERCRED even matters


def test_service_start_stop_without_procd(make_daemon):
    d = make_daemon()
    os.environ["SECUMAIL_RUNDIR"] = d.rundir
    try:
        from secumail.daemon import launcher as service

        assert not service.procd_available()
        info = service.ensure_daemon_running(d.confdir)
        assert info["confdir"] == d.confdir
        assert service.ensure_daemon_running(d.confdir)["pid"] == info["pid"]  # already running: same one
        assert service.reload_daemon()
        assert service.stop_daemon()
        assert service.daemon_info() is None
        assert not service.stop_daemon()
    finally:
        os.environ.pop("SECUMAIL_RUNDIR", None)
