"""The rpcd plugin luci.mailserver, run as rpcd runs it, against a temp confdir and the real mailctl."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from tests.support.luciplugin import PLUGIN

# A valid argument set for every method that takes arguments (the others get {}).
VALID = {
    "getLogs": {"lines": 20},
    "serviceAction": {"action": "stop"},
    "domainAdd": {"domain": "example.net"},
    "domainDel": {"domain": "example.net", "force": True},
    "userAdd": {"address": "alice@example.org", "password": "Corr3ct horse battery", "quota": "500M"},
    "userDel": {"address": "alice@example.org"},
    "userPasswd": {"address": "alice@example.org", "password": "an0ther secret"},
    "userQuota": {"address": "alice@example.org", "size": "1G"},
    "aliasAdd": {"source": "info@example.org", "destinations": ["alice@example.org"]},
    "aliasDel": {"source": "info@example.org"},
    "listAppPasswords": {"address": "alice@example.org"},
    "appPasswordDel": {"address": "alice@example.org", "name": "phone"},
    "queueDelete": {"queue_id": "4F2A1B3C"},
    "dnsPlan": {"domain": "example.org"},
    "dnsCheck": {},
    "getReports": {"days": 7},
    "dnsApply": {"force": False},
    "certIssue": {"force": False},
    "meshAddPeer": {"node_id": "ABCDEFG-HIJKLMN", "address": "10.0.0.9:7022"},
    "meshRemovePeer": {"node_id": "ABCDEFG-HIJKLMN"},
    "meshSync": {"direction": "push"},
    "meshRestore": {"snapshot": "0123456789ab"},
    "jobShow": {"id": "1"},
    "relayAdd": {"name": "isp", "host": "smtp.isp.example", "user": "me", "password": "relay pass"},
    "relayDel": {"name": "isp"},
    "relayTest": {"name": "isp"},
    "importShow": {"name": "alice_old"},
    "importRun": {"user": "alice@example.org", "source": "imaps://alice@old.example", "password": "old pass"},
    "importAdd": {"user": "alice@example.org", "source": "imaps://alice@old.example", "every": "1h",
                  "password": "old pass"},
    "importDel": {"name": "alice_old"},
    "setupIdentity": {"domain": "example.org", "hostname": "mail"},
    "setupDns": {"provider": "manual"},
    "setupMailbox": {"address": "alice@example.org", "password": "Corr3ct horse battery"},
}

EXPECTED_METHODS = {
    "getStatus", "getDiagnosis", "getCharts", "getLogs", "getQueue", "serviceAction", "install", "applyConfig",
    "listDomains", "listUsers", "listAliases", "domainAdd", "domainDel",
    "userAdd", "userDel", "userPasswd", "userQuota", "aliasAdd", "aliasDel",
    "listAppPasswords", "appPasswordDel",
    "queueFlush", "queueDelete", "queueDeleteAll", "dnsPlan", "dnsCheck", "dnsApply", "getReports",
    "getCertStatus", "certIssue", "certRenew",
    "getNodeId", "listPeers", "listDiscovered", "listSnapshots",
    "meshAddPeer", "meshRemovePeer", "meshBackup", "meshSync", "meshRestore", "jobShow", "jobList",
    "listRelays", "relayAdd", "relayDel", "relayTest", "agentStart",
    "listImports", "importShow", "importRun", "importAdd", "importDel",
    "setupStatus", "setupReset", "setupIdentity", "setupDns", "setupPlan", "setupRecords", "setupInstall",
    "setupCertificate", "setupMailbox", "setupFinish",
}  # fmt: skip
STARTS_A_DAEMON = {"agentStart"}  # starts a real secumaild: tests/integration/luci/test_browser.py presses it


def test_list_prints_every_method_with_typed_arguments(world):
    sig = world.list()
    assert set(sig) == EXPECTED_METHODS
    for method, args in sig.items():
        assert isinstance(args, dict), method
        for name, sample in args.items():
            # rpcd derives the ubus type from the sample: string, number, boolean or array
            assert sample in ("str", 0, True, []), (method, name, sample)
    assert sig["userAdd"] == {"address": "str", "password": "str", "quota": "str"}


def test_plugin_is_executable_with_a_shebang():
    assert os.access(PLUGIN, os.X_OK)
    with open(PLUGIN) as handle:
        assert handle.readline().startswith("#!")


@pytest.mark.parametrize("method", sorted(EXPECTED_METHODS - STARTS_A_DAEMON))
def test_every_method_returns_one_json_object_fast(world, method):
    reply = world.call(method, VALID.get(method, {}))
    if "error" in reply.data:
        # a failure is one line with a numeric code, never a traceback or a shell message
        assert isinstance(reply.data["code"], int) and reply.data["code"] > 0
        assert "\n" not in reply.data["error"] and "Traceback" not in reply.data["error"]
        assert reply.data["error"].strip()
    if reply.seconds >= 2.0:
        # A loaded 2-core machine (the integration tests beside this one) can stall any call once; a
        # method that does slow work in the call itself is slow again.
        reply = world.call(method, VALID.get(method, {}))
    assert reply.seconds < 2.0, f"{method} took {reply.seconds:.2f} s, twice"


def test_status_reports_the_configured_domain(world):
    data = world.call("getStatus").data
    assert "config" in data, data
    assert data["config"]["domain"] == "example.org"
    assert data["container"]["state"] == "not installed"


@pytest.mark.parametrize(
    ("method", "stdin", "expected"),
    [
        ("getStatus", "{", "not valid JSON"),
        ("getStatus", "[1, 2]", "must be a JSON object"),
        ("getStatus", '"text"', "must be a JSON object"),
        ("domainAdd", "{}", "domain: missing"),
        ("domainAdd", '{"domain": "example.net", "admin": true}', "unknown argument(s): admin"),
        ("domainAdd", '{"domain": "--force"}', "not a valid domain name"),
        ("domainAdd", '{"domain": "a b.example"}', "not a valid domain name"),
        ("domainAdd", '{"domain": 42}', "must be a string"),
        ("userDel", '{"address": "--purge"}', "not a valid e-mail address"),
        ("userAdd", '{"address": "bob@example.org", "password": "one\\ntwo"}', "on one line"),
        ("userAdd", '{"address": "bob@example.org", "password": ""}', "password: missing"),
        ("userAdd", '{"address": "bob@example.org", "password": "pw", "quota": "lots"}', "not a valid size"),
        ("userQuota", '{"address": "bob@example.org", "size": "-1"}', "not a valid size"),
        ("aliasAdd", '{"source": "a@example.org", "destinations": []}', "non-empty list"),
        ("aliasAdd", '{"source": "a@example.org", "destinations": "b@example.org"}', "non-empty list"),
        ("serviceAction", '{"action": "explode"}', "not one of: start, stop"),
        ("getLogs", '{"lines": 0}', "out of range"),
        ("getLogs", '{"lines": "many"}', "whole number"),
        ("domainDel", '{"domain": "example.org", "force": "yes please"}', "true or false"),
        ("meshSync", '{"direction": "sideways"}', "not one of: push, pull"),
        ("meshRestore", '{"snapshot": "../../etc"}', "not a valid snapshot id"),
        ("meshAddPeer", '{"node_id": "X", "address": "host name"}', "not a valid HOST[:PORT]"),
        ("jobShow", '{"id": "1; reboot"}', "not a valid job id"),
    ],
)
def test_bad_input_is_a_json_error_with_code_2(world, method, stdin, expected):
    reply = world.call(method, stdin)
    assert reply.data["code"] == 2, reply.data
    assert expected in reply.data["error"]
    assert not world.data.exists(), "a refused call must change nothing"


def test_unknown_method_is_a_json_error(world):
    reply = world.call("rebootRouter", {})
    assert reply.data == {"error": "unknown method 'rebootRouter' of luci.mailserver", "code": 2}


def test_usage_without_arguments_fails_cleanly():
    proc = subprocess.run([PLUGIN], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_rpcd_session_argument_is_ignored(world):
    reply = world.call("listDomains", {"ubus_rpc_session": "0123456789abcdef"})
    assert [d["domain"] for d in reply.data["result"]] == ["example.org"]


def _mailctl(world, *argv: str) -> None:
    subprocess.run([world.env["SECUMAIL_MAILCTL"], *argv], env=world.env, check=True, capture_output=True)


def test_accounts_crud_through_the_plugin(world):
    _mailctl(world, "domain", "add", "example.net")  # domainAdd is a secumaild job (integration tests)
    domains = [d["domain"] for d in world.call("listDomains").data["result"]]
    assert sorted(domains) == ["example.net", "example.org"]

    added = world.call("userAdd", {"address": "alice@example.net", "password": "s3cret pass", "quota": "500M"})
    assert added.data["added"] is True and added.data["quota"] == "500M"
    users = world.call("listUsers").data["result"]
    assert [(u["address"], u["quota"]) for u in users] == [("alice@example.net", "500M")]
    assert world.call("userQuota", {"address": "alice@example.net", "size": "2G"}).data["quota"] == "2G"
    assert world.call("userPasswd", {"address": "alice@example.net", "password": "n3w pass phrase"}).data[
        "password_changed"
    ]

    catch_all = world.call("aliasAdd", {"source": "@example.net", "destinations": ["alice@example.net"]}).data
    assert catch_all["destinations"] == ["alice@example.net"]
    aliases = world.call("listAliases").data["result"]
    assert [(a["source"], a["catch_all"]) for a in aliases] == [("@example.net", True)]
    world.call("aliasDel", {"source": "@example.net"})
    assert world.call("listAliases").data["result"] == []

    # mailctl's own refusal comes back as its one line, code 2
    refused = world.call("userAdd", {"address": "alice@example.net", "password": "again-long-enough"}).data
    assert refused["code"] == 2 and "alice@example.net exists already" in refused["error"]
    assert world.call("userDel", {"address": "alice@example.net"}).data["deleted"] is True
    assert world.call("listUsers").data["result"] == []


def test_app_passwords_are_listed_and_revoked_through_the_plugin(world):
    world.call("userAdd", {"address": "alice@example.org", "password": "s3cret pass phrase"})
    for name in ("phone", "laptop"):
        _mailctl(world, "user", "app-password", "add", "alice@example.org", name, "--scope", "imap")
    rows = world.call("listAppPasswords", {"address": "alice@example.org"}).data["result"]
    assert [(r["name"], r["scopes"]) for r in rows] == [("laptop", ["imap"]), ("phone", ["imap"])]
    assert all("password" not in r for r in rows)  # the token is shown once, by mailctl, never listed
    assert world.call("appPasswordDel", {"address": "alice@example.org", "name": "phone"}).data["revoked"]
    assert [r["name"] for r in world.call("listAppPasswords").data["result"]] == ["laptop"]
    refused = world.call("appPasswordDel", {"address": "alice@example.org", "name": "../x"}).data
    assert refused["code"] == 2 and "app password name" in refused["error"]


def test_mailctl_refusal_is_passed_through(world):
    reply = world.call("userAdd", {"address": "bob@nowhere.example", "password": "pw pw pw pw"})
    assert reply.data["code"] == 2
    assert "nowhere.example is not one of this server's domains" in reply.data["error"]
    assert world.call("listUsers").data["result"] == []


def test_a_password_never_appears_in_any_argv(world):
    secret = "Zq8-unique-Secret-4711"
    other = "Second-Unique-Pw-0815"
    seen: list[str] = []
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        cmdline = handle.read().decode(errors="replace")
                except OSError:
                    continue
                if secret in cmdline or other in cmdline:
                    seen.append(cmdline)

    scanner = threading.Thread(target=scan, daemon=True)
    scanner.start()
    try:
        assert world.call("userAdd", {"address": "carol@example.org", "password": secret}).data["added"]
        assert world.call("userPasswd", {"address": "carol@example.org", "password": other}).data[
            "password_changed"
        ]
        refused = world.call("userAdd", {"address": "carol@example.org", "password": secret}).data
        assert refused["code"] == 2 and secret not in refused["error"]
    finally:
        stop.set()
        scanner.join()
    assert seen == []
    calls = [json.loads(line) for line in world.argv_log.read_text().splitlines()]
    assert calls[0][1:] == ["--json", "rpc", "call", "userAdd"]  # the password went on stdin
    assert calls[1][1:] == ["--json", "rpc", "call", "userPasswd"]
    assert all(secret not in arg and other not in arg for argv in calls for arg in argv)
    # the hash, not the password, is what was stored
    stored = "".join(p.read_text(errors="replace") for p in world.data.rglob("*") if p.is_file())
    assert secret not in stored and other not in stored


def test_discovered_nodes_come_as_a_list(world):
    reply = world.call("listDiscovered").data
    assert reply == {"result": []}, reply


def test_long_work_goes_through_jobs(world):
    reply = world.call("dnsCheck", {"domain": "example.org"})
    # never dns-check itself (it waits on DNS servers): a job of secumaild, which does not run in this world
    assert reply.data["code"] == 1 and "secumaild is not running" in reply.data["error"]
    assert reply.seconds < 2.0
    # (which job and arguments each method starts: tests/unit/luci/test_rpc_methods.py)


def test_missing_mailctl_is_a_json_error(world, tmp_path):
    world.env = {**world.env, "SECUMAIL_MAILCTL": str(tmp_path / "no-such-mailctl")}
    assert world.call("getStatus").data == {"error": "mailctl is not installed (package secumail)", "code": 1}


def test_broken_config_is_one_error_line(world):
    (world.confdir / "mailserver").write_text("\nconfig ports 'ports'\n\toption smtp '99999'\n")
    reply = world.call("getStatus").data
    assert reply["code"] == 1 or reply["code"] == 2
    assert "mailserver.ports.smtp" in reply["error"] and "99999" in reply["error"]


def test_relay_add_through_the_plugin_keeps_the_password_out_of_argv_and_uci(world):
    secret = "Relay-Unique-Pw-9911"
    reply = world.call("relayAdd", {"name": "isp", "host": "smtp.isp.example", "user": "me@isp.example",
                                    "sender_domain": ["example.org"], "password": secret})
    assert reply.data["name"] == "isp" and reply.data["password_stored"] is True, reply.data
    assert reply.data["sender_domain"] == ["example.org"] and reply.data["port"] == 587
    assert secret not in world.argv_log.read_text()  # every mailctl argv the plugin ran
    assert secret not in (world.confdir / "mailserver").read_text()
    listed = world.call("listRelays").data["result"]
    assert [r["name"] for r in listed] == ["isp"] and secret not in json.dumps(listed)
    bad = world.call("relayAdd", {"name": "isp", "host": "smtp.isp.example", "user": "me:x", "password": secret})
    assert bad.data["code"] == 2 and "login" in bad.data["error"], bad.data
    assert world.call("relayDel", {"name": "isp"}).data["deleted"] is True
    assert world.call("listRelays").data["result"] == []
