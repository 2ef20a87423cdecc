"""deploy: stage → check → swap → reload, against a fake executor (no container in unit tests)."""

from __future__ import annotations

import os

import pytest

from secumail.mail import deploy, render
from secumail.system.proc import Result
from tests.support.settings import mail_settings as make_settings


class FakeExecutor:
    """Stands in for the container: records commands; `fail` maps a tool name to (rc, stderr)."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def exec(self, args, input=None):
        self.calls.append(list(args))
        rc, err = self.fail.get(args[0], (0, ""))
        return Result(rc, "", err)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data")


def _live(settings):
    return os.path.join(settings.main.data_path, "config", "live")


def test_deploy_checks_then_swaps_then_reloads(settings):
    fake = FakeExecutor()
    result = deploy.deploy(settings, fake)
    gen = f"/srv/mailserver/config/generated/{result['generation']}"
    assert fake.calls == [
        ["postconf", "-c", f"{gen}/postfix", "-n"],
        ["postconf", "-c", f"{gen}/postfix", "-M"],
        ["postfix", "-c", f"{gen}/postfix", "check"],
        ["doveconf", "-c", f"{gen}/dovecot/dovecot.conf", "-n"],
        ["opendkim", "-n", "-x", f"{gen}/opendkim/opendkim.conf"],
        ["rspamadm", f"--var=LOCAL_CONFDIR={gen}/rspamd", "configtest", "-c", "/etc/rspamd/rspamd.conf"],
        [f"{gen}/container/reload"],
    ]
    assert os.readlink(_live(settings)) == f"generated/{result['generation']}"
    assert os.path.isfile(os.path.join(_live(settings), "postfix", "main.cf"))
    assert os.path.isfile(os.path.join(settings.main.data_path, "dkim", "example.org", "mail.private"))


@pytest.mark.parametrize("tool,stderr,shown", [
    ("postconf", "postconf: warning: /srv/x/main.cf: unused parameter: bogus=1\n", "unused parameter: bogus=1"),
    ("doveconf", "doveconf: Fatal: Error in configuration file /srv/x/dovecot.conf line 49: Invalid time interval\n",
     "dovecot.conf line 49: Invalid time interval"),
    ("opendkim", "opendkim: /srv/x/opendkim.conf: unknown key action 'yes'\n", "unknown key action"),
    ("rspamadm", "bad group: vmail\nrcl parse error: cannot parse bind line: /run/x.sock group=vmail\n",
     "rcl parse error: cannot parse bind line"),
])
def test_failed_check_keeps_the_running_config(settings, tool, stderr, shown):
    first = deploy.deploy(settings, FakeExecutor())
    before = sorted(os.listdir(os.path.join(settings.main.data_path, "config", "generated")))
    fake = FakeExecutor(fail={tool: (1 if tool != "postconf" else 0, stderr)})
    with pytest.raises(deploy.ConfigCheckFailed) as err:
        deploy.deploy(settings, fake)
    message = str(err.value)
    assert shown in message and "\n" not in message and "running config unchanged" in message
    assert os.readlink(_live(settings)) == f"generated/{first['generation']}"
    assert sorted(os.listdir(os.path.join(settings.main.data_path, "config", "generated"))) == before
    assert not any("reload" in call[0] for call in fake.calls)


def test_injected_bad_file_is_refused(settings):
    files = render.render_all(settings, ["example.org"], "/x")
    files["postfix/main.cf"] = (files["postfix/main.cf"][0] + "bogus = 1\n", 0o644)
    fake = FakeExecutor(fail={"postconf": (0, "postconf: warning: main.cf: unused parameter: bogus=1")})
    with pytest.raises(deploy.ConfigCheckFailed):
        deploy.deploy(settings, fake, files=files)
    assert not os.path.lexists(_live(settings))


def test_no_container_still_stages_and_swaps_unchecked(settings):
    result = deploy.deploy(settings, None)
    assert result["checked"] is False
    assert os.path.isdir(_live(settings))


def test_old_generations_are_pruned(settings):
    ids = [deploy.deploy(settings, FakeExecutor())["generation"] for _ in range(4)]
    kept = sorted(os.listdir(os.path.join(settings.main.data_path, "config", "generated")))
    assert kept == sorted(ids[-2:])


def test_reload_failure_is_one_line(settings):
    fake = FakeExecutor(fail={})
    original = fake.exec

    def exec_(args, input=None):
        res = original(args, input)
        if args[0].endswith("/container/reload"):
            return Result(1, "", "postfix: fatal: something\n")
        return res

    fake.exec = exec_
    with pytest.raises(deploy.SecumailError) as err:
        deploy.deploy(settings, fake)
    assert "postfix: fatal: something" in str(err.value)


class FakeRuntime:
    """The appliance's ContainerRuntime as the mail layer sees it: the running executor, hand_over calls."""

    def __init__(self, executor):
        self.executor = executor
        self.handed = []

    def running(self):
        return self.executor

    def hand_over(self, *subs):
        self.handed.append(subs)


def test_accounts_change_hook_without_container_is_a_no_op(settings, monkeypatch):
    from secumail.mail import apply

    calls = []
    monkeypatch.setattr(deploy, "deploy", lambda *a, **k: calls.append(a))
    apply.on_accounts_changed(settings, "domain", ["vdomains"], FakeRuntime(None))
    apply.on_accounts_changed(settings, "domain", ["vdomains"], None)
    assert calls == []


# config/ is read-only in the container: the users file gets Dovecot's group on the host
# (the runtime's hand_over), nothing is changed through the container.
USERS_CHANGED = [
    ["doveadm", "auth", "cache", "flush"],
]


@pytest.mark.parametrize("what,changed,expected", [
    ("user", ["users", "vmailbox", "valias"], [["postfix", "reload"], *USERS_CHANGED]),
    ("password", ["users"], USERS_CHANGED),
    ("alias", ["valias"], [["postfix", "reload"]]),
])
def test_accounts_change_hook_reloads_what_reads_the_files(settings, monkeypatch, what, changed, expected):
    from secumail.mail import apply

    fake = FakeExecutor()
    runtime = FakeRuntime(fake)
    apply.on_accounts_changed(settings, what, changed, runtime)
    assert fake.calls == expected
    assert runtime.handed == ([("config",)] if "users" in changed else [])


def test_domain_change_redeploys(settings, monkeypatch):
    from secumail.mail import apply

    fake = FakeExecutor()
    runtime = FakeRuntime(fake)
    apply.on_accounts_changed(settings, "domain", ["vdomains", "domains"], runtime)
    assert fake.calls[-1][0].endswith("/container/reload")
    # the new generation (and seeded signatures) are the container root's
    assert runtime.handed == [("config", "dkim", "ssl", "relay", "clamav")]


def test_deploy_creates_missing_account_maps(settings):
    deploy.deploy(settings, FakeExecutor())
    config = os.path.join(settings.main.data_path, "config")
    for name in ("vdomains", "vmailbox", "valias", "vsenders", "users"):
        assert os.path.isfile(os.path.join(config, name)), name


def test_virus_scanning_stays_off_on_a_host_with_less_memory_than_clamav_needs(tmp_path, monkeypatch, caplog):
    from secumail.system import memory

    settings = make_settings(tmp_path / "data", features={"virus_scan": "1"})
    monkeypatch.setattr(memory, "host_memory_mb", lambda: 1000)
    deploy.deploy(settings, FakeExecutor())
    live = _live(settings)
    assert not os.path.exists(os.path.join(live, "clamav"))
    with open(os.path.join(live, "container", "reload")) as handle:
        assert "features.virus_scan is off" in handle.read()  # stops a ClamAV left running
    with open(os.path.join(live, "postfix", "main.cf")) as handle:
        assert "clamav" not in handle.read()
    assert "virus scanning stays off: mailserver.features.virus_scan: '1' needs 1664 MiB" in caplog.text
    monkeypatch.setattr(memory, "host_memory_mb", lambda: 4096)  # enough: scanning is rendered
    deploy.deploy(settings, FakeExecutor())
    assert os.path.isfile(os.path.join(live, "clamav", "clamd.conf"))
