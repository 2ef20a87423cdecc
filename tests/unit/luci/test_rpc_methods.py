"""The rpcd methods come from the operations table: their arguments, their ACL class, the jobs they start."""

from __future__ import annotations

import json

import pytest

from secumail.appliance.operations import OPERATIONS
from secumail.cli import rpc
from secumail.cli.base import Context
from tests.support.luciplugin import ACL


@pytest.fixture
def started(monkeypatch):
    """Job requests the methods send to secumaild (recorded; no daemon needed)."""
    calls: list[tuple[str, dict]] = []

    def call(method, params=None, **_kwargs):
        calls.append((method, params))
        return {"id": "1"}

    monkeypatch.setattr("secumail.daemon.client.call", call)
    return calls


def _answer(method: str, args: dict) -> dict:
    return rpc.answer(Context(confdir="/nonexistent", json=True), method, json.dumps(args))


def test_job_arguments_of_each_long_method(started):
    for method, args in [
        ("dnsPlan", {}),
        ("dnsApply", {"domain": "example.org", "force": True}),
        ("certIssue", {"force": True}),
        ("meshRestore", {"snapshot": "0123456789ab"}),
        ("meshSync", {"direction": "pull", "peer": "NODE-1"}),
        ("domainAdd", {"domain": "Example.NET"}),
        ("domainDel", {"domain": "example.net"}),
        ("serviceAction", {"action": "start"}),
        ("serviceAction", {"action": "stop"}),
        ("applyConfig", {}),
        ("install", {}),
        ("certRenew", {}),
        ("meshBackup", {}),
        ("importRun", {"user": "a@example.org", "source": "imaps://a@old.example", "password": "old pw"}),
    ]:
        assert _answer(method, args) == {"id": "1"}, method
    assert [(params["name"], params["args"]) for _method, params in started] == [
        ("dns-setup", {"dry_run": True}),
        ("dns-setup", {"domain": "example.org", "force": True, "dry_run": False}),
        ("ssl-setup", {"force": True}),
        ("restore", {"source": "0123456789ab"}),
        ("sync", {"direction": "pull", "peer": "NODE-1"}),
        ("domain-add", {"domain": "Example.NET"}),  # the operation lower-cases it
        ("domain-del", {"domain": "example.net"}),
        ("start", {}),
        ("stop", {}),
        ("configure", {}),
        ("install", {}),
        ("ssl-renew", {}),
        ("backup", {}),
        ("import", {"user": "a@example.org", "source": "imaps://a@old.example"}),
    ]
    assert started[-1][1]["stdin"] == "old pw"  # the password goes to the job on its stdin
    assert {method for method, _params in started} == {"jobs.start"}


def test_job_queries_go_to_secumaild(started):
    _answer("jobShow", {"id": "abc-1"})
    _answer("jobList", {})
    assert started == [("jobs.show", {"id": "abc-1"}), ("jobs.list", None)]


def test_a_failed_job_is_marked_failed(monkeypatch):
    job = {"id": "abc-1", "state": "failed", "error": "no such snapshot"}
    monkeypatch.setattr("secumail.daemon.client.call", lambda method, params=None, **_: job)
    assert _answer("jobShow", {"id": "abc-1"}) == {**job, "failed": True}
    job["state"] = "done"
    assert _answer("jobShow", {"id": "abc-1"}) == job


def test_every_method_is_an_operation_with_its_checks():
    for name, method in rpc.METHODS.items():
        if name in ("jobShow", "jobList", "agentStart"):
            continue  # secumaild's job queries and its start, not operations
        ops = method.operations()
        assert ops, name
        for op in ops:
            chooser = {method.select[0]} if method.select else set()
            inner = {method.rename.get(arg, arg) for arg in method.args()} - chooser
            assert inner <= set(op.args), (name, inner - set(op.args))
            assert not set(method.fixed) - set(op.args), name
            # a job's secret (importRun's password) leaves the arguments for the job's stdin (rpc._run; checked
            # in test_job_arguments_of_each_long_method): it never travels in a job's arguments


def test_acl_matches_the_read_write_class_of_each_operation():
    with open(ACL) as handle:
        group = json.load(handle)["luci-app-secumail"]
    read = set(group["read"]["ubus"]["luci.mailserver"])
    write = set(group["write"]["ubus"]["luci.mailserver"])
    assert read | write == set(rpc.METHODS)
    for name, method in rpc.METHODS.items():
        if method.writes():
            assert name in write and name not in read, f"{name} changes the server: write ACL only"
        else:
            assert name in read and name not in write, f"{name} only reads: read ACL"


def test_write_class_follows_the_arguments():
    assert OPERATIONS["dns-setup"].writes({"dry_run": True}) is False
    assert OPERATIONS["dns-setup"].writes({"dry_run": False}) is True
    assert rpc.METHODS["dnsPlan"].writes() is False and rpc.METHODS["dnsApply"].writes() is True


def test_replies_carry_no_shell_advice():
    """The web UI offers buttons and pages: a hint to run a command is left out of what it shows."""
    assert rpc._one_line(
        "mailctl: secumaild is not running (start it with '/etc/init.d/mailserver start' or 'mailctl start')"
    ) == "secumaild is not running"
    assert rpc._one_line("the mail container 'x' is not running: run 'mailctl start'") == (
        "the mail container 'x' is not running")
    assert rpc._no_shell_hints({"notes": ["not answering: smtp (see 'mailctl logs')"], "ports": {"smtp": 25}}) == {
        "notes": ["not answering: smtp"], "ports": {"smtp": 25}}
    kept = "smtp (port 25) up; DNS blocklists: on (postscreen asks 3 list(s))"
    assert rpc._no_shell_hints(kept) == kept


def test_status_says_whether_secumaild_runs(monkeypatch):
    monkeypatch.setattr("secumail.cli.server.status_from_daemon", lambda confdir=None: {"config": {"domain": "a.test"}})
    assert _answer("getStatus", {})["agent"] == {"running": True}
    monkeypatch.setattr("secumail.cli.server.status_from_daemon", lambda confdir=None: None)
    monkeypatch.setattr("secumail.daemon.launcher.daemon_info", lambda timeout=3.0: None)
    monkeypatch.setattr("secumail.appliance.server.status", lambda call: {"config": {"domain": "a.test"}})
    assert _answer("getStatus", {}) == {"config": {"domain": "a.test"}, "agent": {"running": False}}


def test_agent_start_is_a_write_method_that_starts_secumaild(monkeypatch):
    started = []
    monkeypatch.setattr("secumail.daemon.launcher.ensure_daemon_running",
                        lambda confdir=None: started.append(confdir) or {"pid": 4242})
    assert rpc.METHODS["agentStart"].writes()
    assert _answer("agentStart", {}) == {"agent": "running", "pid": 4242}
    assert len(started) == 1
