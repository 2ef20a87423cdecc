"""secumaild's API jobs are operations of the table: JSON arguments checked by its schema, no argparse."""

from __future__ import annotations

import pytest

from secumail.appliance.operations import JOBS, OPERATIONS, Reported
from secumail.daemon import jobtasks
from secumail.daemon.jobqueue import API_JOBS
from secumail.errors import InputError

# The job names are an API (`mailctl jobs start NAME`, LuCI): they stay as they were.
EXPECTED_JOBS = {"install", "ssl-setup", "ssl-renew", "dns-setup", "dns-check", "backup", "sync", "restore",
                 "configure", "start", "stop", "domain-add", "domain-del", "import", "update", "setup-records",
                 "setup-install", "setup-certificate"}  # fmt: skip


def test_every_api_job_is_an_operation():
    assert set(API_JOBS) == EXPECTED_JOBS == set(JOBS)
    for name in API_JOBS:
        assert jobtasks.lookup(name) is jobtasks.run_operation
    for name in ("container-up", "container-down", "mesh-backup", "mesh-sync", "import-sync"):
        assert jobtasks.lookup(name) is not None and name not in JOBS


def test_job_arguments_are_typed_by_the_schema():
    op = JOBS["dns-setup"]
    assert jobtasks.job_arguments(op, {"domain": "example.org", "dry_run": True}, None) == {
        "domain": "example.org", "dry_run": True}  # fmt: skip
    assert jobtasks.job_arguments(JOBS["sync"], {}, None) == {}  # the operation's default: push
    assert OPERATIONS["mesh.sync"].args["direction"].default == "push"


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("dns-setup", {"domain": ["x"]}, "domain: must be a string"),
    ("dns-setup", {"force": {"a": 1}}, "force: must be true or false"),
    ("dns-setup", {"bad key;": True}, "unknown argument(s): bad key;"),
    ("dns-setup", {"domain": "--force"}, "not a valid domain name"),
    ("sync", {"direction": "sideways"}, "not one of: push, pull"),
    ("restore", {"recovery_key": "ABCD"}, "read from the job's stdin"),
])  # fmt: skip
def test_malformed_args_are_one_line_input_errors(name, args, expected):
    with pytest.raises(InputError) as err:
        jobtasks.job_arguments(JOBS[name], args, None)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_secret_comes_from_stdin():
    values = jobtasks.job_arguments(JOBS["restore"], {"source": "abc123", "from_node": "N1"}, "KEY-LINE\n")
    assert values == {"source": "abc123", "from_node": "N1", "recovery_key": "KEY-LINE"}
    # only the line end goes: a password may begin or end with a space
    values = jobtasks.job_arguments(JOBS["import"], {"user": "a@example.org", "source": "imaps://a@h",
                                                     "folders": ["Sent Items"]}, " pw \n")  # fmt: skip
    assert values == {"user": "a@example.org", "source": "imaps://a@h", "folders": ["Sent Items"], "password": " pw "}


def test_a_job_runs_the_operation_function(monkeypatch):
    seen = {}

    def fake(call, domain, dry_run, force):
        seen.update(domain=domain, dry_run=dry_run, force=force, confdir=call.confdir)
        return Reported({"conflicts": ["x"]})

    monkeypatch.setattr("secumail.appliance.records.dns_setup", fake)
    ctx = jobtasks.TaskContext("dns-setup", {"dry_run": True, "_fingerprint": "daemon's own"}, "/etc/x", None,
                               lambda line, percent: None)  # fmt: skip
    with pytest.raises(jobtasks.ReportedProblems) as err:
        jobtasks.run_operation(ctx)
    assert seen == {"domain": None, "dry_run": True, "force": False, "confdir": "/etc/x"}
    assert err.value.data == {"conflicts": ["x"]}
    assert str(err.value) == "dns-setup reported problems (see the job result)"
