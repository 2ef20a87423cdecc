"""mailctl as a user meets it: help, config commands, exit codes, one-line errors."""

import json
import os

import pytest

from secumail.cli import build_parser

SECUBOX_COMMANDS = [
    "start", "stop", "restart", "status", "install", "user", "alias", "ssl-setup", "ssl-status", "dns-setup",
    "mesh", "webmail", "logs", "test", "domain", "dns-check", "config", "queue", "image",
]  # fmt: skip
SUB_COMMANDS = {
    "user": ["add", "del", "list", "passwd"],
    "alias": ["add", "del", "list"],
    "domain": ["add", "del", "list"],
    "mesh": ["backup", "restore", "sync", "add-peer", "peers", "enable", "disable"],
    "webmail": ["install", "configure", "status", "remove"],
    "config": ["get", "set", "show"],
    "queue": ["list", "flush", "delete", "delete-all"],
}


def test_help_lists_every_command(subprocess_cli):
    result = subprocess_cli("--help")
    assert result.code == 0
    for name in SECUBOX_COMMANDS:
        assert f"\n    {name} " in result.out or f"\n    {name}\n" in result.out, name


@pytest.mark.parametrize("group", sorted(SUB_COMMANDS))
def test_group_help_lists_sub_commands(group):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[group]
    text = sub.format_help()
    for name in SUB_COMMANDS[group]:
        assert f"    {name}" in text, (group, name)


def test_mesh_sync_takes_push_or_pull(cli, confdir):
    assert cli("mesh", "sync", "sideways").code == 2


def test_config_get_set_show_round_trip(cli, confdir):
    assert cli("config", "get", "mailserver.main.domain").out == "example.org\n"
    result = cli("config", "set", "mailserver.main.domain", "mail.example.net")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert cli("config", "get", "mailserver.main.domain").out == "mail.example.net\n"
    assert "option domain 'mail.example.net'" in (confdir / "mailserver").read_text()
    shown = cli("config", "show").out
    assert "mailserver.main=mailserver\n" in shown
    assert "mailserver.main.domain='mail.example.net'\n" in shown


def test_config_set_accepts_uci_style_assignment(cli, confdir):
    assert cli("config", "set", "mailserver.ports.pop3=0").code == 0
    assert cli("--json", "config", "get", "mailserver.ports.pop3").out.strip() == json.dumps(
        {"path": "mailserver.ports.pop3", "value": "0"}
    )


def test_config_set_list(cli, confdir):
    assert cli("config", "set", "mailserver.acme.extra_names", "a.example.org", "b.example.org").code == 0
    got = json.loads(cli("--json", "config", "get", "mailserver.acme.extra_names").out)
    assert got["value"] == ["a.example.org", "b.example.org"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mailserver.main.domain", "exa mple.com"],
         "mailserver.main.domain: 'exa mple.com' is not a valid domain name; nothing was saved"),
        (["mailserver.ports.smtp", "99999"], "mailserver.ports.smtp: '99999' is not a valid port (1-65535)"),
        (["mailserver.ports.imap", "25"], "is already used by mailserver.ports.smtp"),
        (["mailserver.main.domian", "example.com"], "mailserver.main.domian: unknown option"),
        (["network.lan.ipaddr", "1.2.3.4"], "is not a path of the form mailserver.SECTION[.OPTION]"),
        (["mailserver.main.domain"], "no value given"),
        (["mailserver.container.memory", "256"],
         "mailserver.container.memory: '256' MiB is too small for features.spam_filter 1 (Rspamd and Redis "
         "need at least"),
    ],
)
def test_config_set_refuses_bad_values_and_saves_nothing(cli, confdir, args, message):
    before = (confdir / "mailserver").read_bytes()
    result = cli("config", "set", *args)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert (confdir / "mailserver").read_bytes() == before


def test_config_get_missing_is_one_line(cli, confdir):
    result = cli("config", "get", "mailserver.main.nothing")
    assert (result.code, result.err) == (2, "mailctl: mailserver.main.nothing: not found\n")


def test_status_json_reports_config_and_container(cli, confdir):
    result = cli("--json", "status")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["config"]["domain"] == "example.org"
    assert data["config"]["fqdn"] == "mail.example.org"
    assert data["container"]["state"] == "not installed"
    assert data["ports"]["smtp"] == 25


def test_status_text(cli, confdir):
    result = cli("status")
    assert result.code == 0
    assert "mail.example.org" in result.out
    assert "not installed" in result.out
    assert "Calendars:    off (features.dav 0)\n" in result.out


def test_status_shows_calendars_in_one_line(cli, confdir):
    assert cli("config", "set", "mailserver.features.dav", "1").code == 0
    out = cli("status").out
    assert "Calendars:    CalDAV/CardDAV on port 5232, container not running, 0 mailbox(es) with data\n" in out


def test_status_with_invalid_config_is_one_line(cli, confdir):
    (confdir / "mailserver").write_text("\nconfig ports 'ports'\n\toption smtp 'x'\n")
    result = cli("status")
    assert result.code == 2
    assert result.err == "mailctl: mailserver.ports.smtp: 'x' is not a valid port (1-65535)\n"


def test_json_errors_are_json_too(cli, confdir):
    result = cli("--json", "config", "get", "mailserver.main.nothing")
    assert result.code == 2
    assert json.loads(result.out) == {"error": "mailctl: mailserver.main.nothing: not found", "code": 2}


def test_mesh_enable_disable_sets_uci(cli, confdir):
    assert cli("mesh", "enable").out == "mesh backup enabled\n"
    assert cli("config", "get", "mailserver.mesh.enabled").out == "1\n"
    assert cli("mesh", "disable").code == 0
    assert cli("config", "get", "mailserver.mesh.enabled").out == "0\n"


def test_global_flags_anywhere(cli, confdir):
    result = cli("status", "--json")
    assert result.code == 0
    json.loads(result.out)


def test_status_shows_each_protection_feature_with_its_state_and_why(cli, confdir, monkeypatch):
    from secumail.system import memory

    monkeypatch.setattr(memory, "host_memory_mb", lambda: 4096)
    assert cli("config", "set", "mailserver.features.virus_scan", "1").code == 0
    assert cli("config", "set", "mailserver.protection.user_recipients_per_hour", "0").code == 0
    data = json.loads(cli("--json", "status").out)
    states = {item["name"]: (item["state"], item["why"]) for item in data["protection"]}
    clamav = os.path.join(data["config"]["data_path"], "clamav")
    assert states == {
        "spam filter": ("on", "Rspamd on port 25: Junk from score 6, refused from 15, learning global"),
        "greylisting": ("off", "protection.greylisting 0"),
        "sender checks": ("off", "Rspamd checks SPF, DKIM and DMARC instead"),
        "DNS blocklists": ("on", "postscreen asks 3 list(s), refuses at weight 3"),
        "virus scan": ("down", f"no ClamAV signatures in {clamav} yet: freshclam fetches them when the "
                               "Internet answers, or copy them there (docs/protection.md); mail arrives unscanned"),
        "connections per client": ("on", "60/min on port 25"),
        "messages per client": ("on", "30/min on port 25"),
        "recipients per user": ("off", "protection.user_recipients_per_hour 0"),
    }
    assert cli("config", "set", "mailserver.features.spam_filter", "0").code == 0
    states = {i["name"]: (i["state"], i["why"]) for i in json.loads(cli("--json", "status").out)["protection"]}
    assert states["sender checks"] == ("on", "port 25: SPF fail and DMARC p=reject refused, unknown sender domains "
                                             "temp-failed")  # fmt: skip
    assert cli("config", "set", "mailserver.protection.sender_checks", "0").code == 0
    states = {i["name"]: (i["state"], i["why"]) for i in json.loads(cli("--json", "status").out)["protection"]}
    assert states["sender checks"] == ("off", "protection.sender_checks 0")
    assert cli("config", "set", "mailserver.features.spam_filter", "1").code == 0
    text = cli("status").out
    assert "Protection:   spam filter: on (Rspamd on port 25" in text
    assert "              virus scan: down (no ClamAV signatures in" in text
    os.makedirs(clamav, exist_ok=True)
    with open(os.path.join(clamav, "local.ndb"), "w") as handle:
        handle.write("Test.Sig:0:*:414243\n")
    states = {item["name"]: item for item in json.loads(cli("--json", "status").out)["protection"]}
    assert states["virus scan"]["state"] == "on"  # the container is not installed: no socket to look for
    assert states["virus scan"]["why"].startswith("ClamAV on every SMTP port: mail carrying a virus is refused")
    # the same config on a router with less memory than ClamAV needs
    monkeypatch.setattr(memory, "host_memory_mb", lambda: 1000)
    data = json.loads(cli("--json", "status").out)
    states = {item["name"]: (item["state"], item["why"]) for item in data["protection"]}
    assert states["virus scan"] == ("refused", "mailserver.features.virus_scan: '1' needs 1664 MiB of memory "
                                    "(ClamAV with the official signatures and the other services), this host has "
                                    "1000 MiB")


def test_enabling_virus_scan_on_a_small_host_is_refused_in_one_line(cli, confdir, monkeypatch):
    from secumail.system import memory

    monkeypatch.setattr(memory, "host_memory_mb", lambda: 1000)
    with open(os.path.join(confdir, "mailserver")) as handle:
        before = handle.read()
    result = cli("config", "set", "mailserver.features.virus_scan", "1")
    assert result.code != 0 and result.out == ""
    assert result.err.strip().splitlines() == [
        "mailctl: mailserver.features.virus_scan: '1' needs 1664 MiB of memory (ClamAV with the official "
        "signatures and the other services), this host has 1000 MiB; nothing was saved"]
    with open(os.path.join(confdir, "mailserver")) as handle:
        assert handle.read() == before
    assert cli("config", "get", "mailserver.features.virus_scan").out.strip() in ("", "0")  # unset or 0
