"""Rendered spam filter (Rspamd, Redis, sieve) and postscreen config follow mailserver.features/protection."""

from __future__ import annotations

import re

import pytest

from secumail.errors import ConfigError
from secumail.mail import render
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN, _params, _services


def _render(tmp_path, **sections):
    return render.render_all(make_settings(tmp_path / "data", **sections), ["example.org"], GEN)


def _ucl(text: str) -> dict[str, str]:
    """Top-level `key = value;` lines of an Rspamd config file."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^([a-z_]+) = (.*?);", text, re.M)}


def test_defaults_filter_port_25_with_the_fewest_rspamd_processes(tmp_path):
    files = _render(tmp_path)
    proxy = files["rspamd/override.d/worker-proxy.inc"][0]
    assert _ucl(proxy)["milter"] == "yes" and _ucl(proxy)["count"] == "1"
    assert "self_scan = yes;" in proxy  # scans in-process: no separate normal worker
    assert _ucl(files["rspamd/override.d/worker-normal.inc"][0]) == {"enabled": "false"}
    fuzzy = _ucl(files["rspamd/override.d/worker-fuzzy.inc"][0])
    assert fuzzy == {"count": "-1", "enabled": "false"}
    for module in ("neural", "fuzzy_check", "history_redis"):
        assert _ucl(files[f"rspamd/local.d/{module}.conf"][0]) == {"enabled": "false"}
    options = _ucl(files["rspamd/override.d/options.inc"][0])
    assert options["disable_hyperscan"] == "true" and options["enable_test_patterns"] == "false"
    # the router itself is trusted as for postscreen; the LAN and everyone else are strangers
    assert options["local_addrs"] == '["127.0.0.0/8", "::1", "10.231.0.1/32"]'
    actions = _ucl(files["rspamd/local.d/actions.conf"][0])
    assert actions == {"reject": "15", "add_header": "6", "rewrite_subject": "null", "greylist": "null"}
    assert _ucl(files["rspamd/local.d/greylist.conf"][0]) == {"enabled": "false"}


def test_dmarc_policies_of_senders_are_enforced(tmp_path):
    """Rspamd's dmarc module only scores by default: p=reject must refuse, p=quarantine must reach Junk."""
    dmarc = _render(tmp_path)["rspamd/local.d/dmarc.conf"][0]
    body = re.search(r"^actions \{(.*?)^\}", dmarc, re.M | re.S)
    assert body is not None
    assert dict(re.findall(r'^\s+([a-z]+) = "([a-z_]+)";', body.group(1), re.M)) == {
        "reject": "reject", "quarantine": "add_header"}  # add_header: "X-Spam: Yes", filed into Junk
    assert "rspamd/local.d/dmarc.conf" not in _render(tmp_path, features={"spam_filter": "0"})


def test_the_controller_has_no_tcp_port(tmp_path):
    controller = _render(tmp_path)["rspamd/override.d/worker-controller.inc"][0]
    sockets = re.findall(r'bind_socket = "([^"]*)"', controller)
    assert sockets == ["/run/rspamd-learn/controller.sock mode=0666 owner=_rspamd"]  # its dir is 0750
    assert "secure_ip" not in controller  # no TCP listener for it to matter


def test_headers_and_junk_filing(tmp_path):
    files = _render(tmp_path)
    headers = files["rspamd/local.d/milter_headers.conf"][0]
    assert '"authentication-results"' in headers and "skip_authenticated = true;" in headers
    sieve = files["dovecot/sieve/spam-to-junk.sieve"][0]
    assert 'if header :is "X-Spam" "Yes"' in sieve and 'fileinto "Junk";' in sieve
    conf = files["dovecot/dovecot.conf"][0]
    assert "sieve_before = /etc/dovecot/sieve/spam-to-junk.sieve" in conf
    assert "mail_plugins = $mail_plugins imap_quota imap_sieve" in conf
    assert "imapsieve_mailbox1_name = Junk" in conf and "imapsieve_mailbox2_from = Junk" in conf
    assert 'if string "${mailbox}" "Trash"' in files["dovecot/sieve/learn-ham.sieve"][0]  # deleting is no ham


def test_learning_is_global_or_per_user(tmp_path):
    learn = _render(tmp_path)["dovecot/sieve/bin/rspamd-learn"][0]
    assert 'exec /usr/bin/rspamc -h /run/rspamd-learn/controller.sock -t 20  "learn_$kind"' in learn
    per_user = _render(tmp_path, protection={"learn": "user"})
    assert '-d "$user" "learn_$kind"' in per_user["dovecot/sieve/bin/rspamd-learn"][0]
    assert _ucl(per_user["rspamd/local.d/classifier-bayes.conf"][0])["per_user"] == "true"


def test_scores_greylisting_memory_and_test_patterns_follow_protection(tmp_path):
    files = _render(tmp_path, protection={"junk_score": "5.5", "reject_score": "20", "greylisting": "1",
                                          "bayes_memory": "16", "test_patterns": "1"})  # fmt: skip
    actions = _ucl(files["rspamd/local.d/actions.conf"][0])
    assert (actions["add_header"], actions["reject"], actions["greylist"]) == ("5.5", "20", "2.75")
    assert _ucl(files["rspamd/local.d/greylist.conf"][0]) == {"enabled": "true"}
    assert _ucl(files["rspamd/override.d/options.inc"][0])["enable_test_patterns"] == "true"
    redis = files["redis/redis.conf"][0]
    assert "\nmaxmemory 16mb\n" in redis and "\nport 0\n" in redis  # a unix socket only
    assert 'config set maxmemory "16mb"' in files["container/reload"][0]


def test_spam_filter_off_renders_no_rspamd_and_stops_it(tmp_path):
    files = _render(tmp_path, features={"spam_filter": "0"})
    assert not [p for p in files if p.startswith(("rspamd/", "redis/", "dovecot/sieve/"))]
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_milters"] == ("unix:/var/spool/postfix/opendkim/opendkim.sock,"
                                     "unix:/var/spool/postfix/opendmarc/opendmarc.sock")  # the light path
    conf = files["dovecot/dovecot.conf"][0]
    assert "imap_sieve" not in conf and "sieve_before" not in conf
    reload = files["container/reload"][0]
    assert 'kill "$(cat /run/rspamd/rspamd.pid)"' in reload and "launch rspamd" not in reload


def test_postscreen_asks_the_blocklists_and_trusts_the_router(tmp_path):
    files = _render(tmp_path, protection={"dnsbl": ("bl.test*2", "allow.test=127.0.0.[1..2]*-5"),
                                          "dnsbl_threshold": "2"})  # fmt: skip
    main = _params(files["postfix/main.cf"][0])
    assert main["postscreen_dnsbl_sites"] == "bl.test*2, allow.test=127.0.0.[1..2]*-5"
    assert main["postscreen_dnsbl_threshold"] == "2" and main["postscreen_dnsbl_action"] == "enforce"
    assert main["postscreen_access_list"] == f"permit_mynetworks, cidr:{GEN}/postfix/postscreen_access.cidr"
    assert files["postfix/postscreen_access.cidr"][0] == "10.231.0.1/32 permit\n"  # the bridge address
    services = _services(files["postfix/master.cf"][0])
    assert services["dnsblog"][0].split()[1] == "unix"


def test_host_network_trusts_no_address_in_postscreen(tmp_path):
    settings = make_settings(tmp_path / "data")
    import dataclasses

    host = dataclasses.replace(settings, container=dataclasses.replace(settings.container, network_mode="host"))
    files = render.render_all(host, ["example.org"], GEN)
    assert "permit" not in files["postfix/postscreen_access.cidr"][0]
    assert _ucl(files["rspamd/override.d/options.inc"][0])["local_addrs"] == '["127.0.0.0/8", "::1"]'


def test_no_blocklist_no_postscreen(tmp_path):
    files = _render(tmp_path, protection={"dnsbl": ()})
    services = _services(files["postfix/master.cf"][0])
    assert services["25"][0].split()[1:] == ["inet", "n", "-", "n", "-", "-", "smtpd"]
    assert "postscreen_" not in files["postfix/main.cf"][0] and "postfix/postscreen_access.cidr" not in files


@pytest.mark.parametrize("protection, message", [
    ({"reject_score": "6"}, "mailserver.protection.reject_score: '6' must be above protection.junk_score (6)"),
    ({"dnsbl": ("zen.spamhaus.org*x",)}, "mailserver.protection.dnsbl: 'zen.spamhaus.org*x' is not a DNS blocklist"),
    ({"dnsbl": ("localhost*3",)}, "'localhost*3' does not start with a DNS zone name"),
    ({"junk_score": "six"}, "mailserver.protection.junk_score: 'six' is not a number"),
])  # fmt: skip
def test_bad_protection_values_are_refused_in_one_line(tmp_path, protection, message):
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path / "data", protection=protection)
    assert message in str(caught.value) and "\n" not in str(caught.value)
