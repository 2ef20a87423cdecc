import pytest

from secumail.cli import build_parser
from secumail.daemon.tasks import CLI_JOBS, cli_argv
from secumail.errors import InputError


def test_args_become_the_mailctl_command_line():
    assert cli_argv("dns-setup", {"domain": "example.org", "dry_run": True, "force": False}) == [
        "dns-setup", "example.org", "--dry-run"]  # fmt: skip
    assert cli_argv("sync", {}) == ["mesh", "sync", "push"]
    assert cli_argv("restore", {"source": "abc", "from_node": "N1"}, has_stdin=True) == [
        "mesh", "restore", "abc", "--from", "N1", "--recovery-key-stdin"]  # fmt: skip


@pytest.mark.parametrize("args", [{"domain": ["x"]}, {"force": {"a": 1}}, {"bad key;": True}])
def test_malformed_args_are_one_line_input_errors(args):
    with pytest.raises(InputError):
        cli_argv("dns-setup", args)


def test_every_cli_job_is_a_real_mailctl_command():
    parser = build_parser()
    for name in CLI_JOBS:
        args = {"direction": "push"} if name == "sync" else {"domain": "example.org"} if "domain" in name else {}
        ns = parser.parse_args(cli_argv(name, args))
        assert getattr(ns, "handler", None) is not None, name
