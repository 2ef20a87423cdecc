"""Rendered rate limits follow mailserver.protection: anvil on port 25, the per-user policy on
submission and smtps, Dovecot's delay after a failed login."""

from __future__ import annotations

import os
import subprocess

from secumail.mail import render
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN, _params, _services


def _render(tmp_path, **protection):
    settings = make_settings(tmp_path / "data", protection=protection)
    return render.render_all(settings, ["example.org"], GEN)


def test_defaults_limit_port_25_clients_and_each_users_recipients(tmp_path):
    files = _render(tmp_path)
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_client_connection_rate_limit"] == "60"
    assert main["smtpd_client_message_rate_limit"] == "30"
    assert main["anvil_rate_time_unit"] == "60s"
    services = _services(files["postfix/master.cf"][0])
    policy = services["secumail-ratelimit"]
    assert policy[0].split()[1:] == ["unix", "-", "n", "n", "-", "0", "spawn"]
    assert policy[1] == "user=nobody argv=/usr/local/sbin/secumail-ratelimit 200 /var/lib/secumail-ratelimit"
    for name in ("587", "465"):  # submission and smtps ask the policy; messages per minute are not theirs
        lines = services[name]
        assert ("-o smtpd_recipient_restrictions=reject_non_fqdn_recipient,check_policy_service,"
                "unix:private/secumail-ratelimit,permit_sasl_authenticated,reject") in lines
        assert not any(" " in line.split("=", 1)[-1] for line in lines if line.startswith("-o "))
        assert "-o smtpd_client_message_rate_limit=0" in lines
    assert "secumail-ratelimit_time_limit = 3600s" in files["postfix/main.cf"][0]
    assert _params(files["dovecot/dovecot.conf"][0])["auth_failure_delay"] == "2 secs"
    assert "install -d -o nobody -g nogroup -m 0700 /var/lib/secumail-ratelimit" in files["container/reload"][0]


def test_zero_turns_each_limit_off(tmp_path):
    files = _render(tmp_path, smtp_connection_rate="0", smtp_message_rate="0", user_recipients_per_hour="0",
                    auth_failure_delay="0")  # fmt: skip
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_client_connection_rate_limit"] == "0" and main["smtpd_client_message_rate_limit"] == "0"
    services = _services(files["postfix/master.cf"][0])
    assert "secumail-ratelimit" not in services and "postfix/ratelimit-policy" not in files
    assert not any("check_policy_service" in line for line in services["587"])
    assert _params(files["dovecot/dovecot.conf"][0])["auth_failure_delay"] == "0 secs"


def _ask(policy: str, state: str, limit: int, requests: list[dict[str, str]]) -> list[str]:
    text = "".join("".join(f"{k}={v}\n" for k, v in r.items()) + "\n" for r in requests)
    out = subprocess.run(["perl", policy, str(limit), state], input=text, capture_output=True, text=True,
                         check=True, timeout=10).stdout  # fmt: skip
    return [block.removeprefix("action=") for block in out.split("\n\n") if block]


def test_the_policy_refuses_a_user_over_the_limit_and_no_one_else(tmp_path):
    policy = tmp_path / "policy"
    policy.write_text(_render(tmp_path)["postfix/ratelimit-policy"][0])
    state = tmp_path / "state"
    state.mkdir()
    bob = {"request": "smtpd_access_policy", "protocol_state": "RCPT", "sasl_username": "Bob@example.org"}
    answers = _ask(str(policy), str(state), 3, [bob] * 4)
    assert answers[:3] == ["DUNNO"] * 3
    assert answers[3] == ("450 4.7.1 bob@example.org has sent to 3 recipients in the last hour, the limit of "
                          "this server; try again in 60 minutes")  # fmt: skip
    # a second connection sees the same count; another user and unauthenticated requests pass
    alice = dict(bob, sasl_username="alice@example.org")
    assert _ask(str(policy), str(state), 3, [bob, alice, dict(bob, sasl_username="")]) == [
        answers[3], "DUNNO", "DUNNO"]
    assert sorted(os.listdir(state)) == ["alice@example.org", "bob@example.org"]
