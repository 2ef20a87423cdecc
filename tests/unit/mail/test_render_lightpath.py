"""The light path (features.spam_filter 0): SPF policy, sender domain check, OpenDMARC on port 25 only."""

from __future__ import annotations

from secumail.mail import deploy, render
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN, _params, _services

SPF = "check_policy_service unix:private/policyd-spf"
LOCAL = f"check_client_access cidr:{GEN}/postfix/local_clients.cidr"
DKIM_SOCK = "unix:/var/spool/postfix/opendkim/opendkim.sock"
DMARC_SOCK = "unix:/var/spool/postfix/opendmarc/opendmarc.sock"


def _render(tmp_path, **sections):
    return render.render_all(make_settings(tmp_path / "data", **sections), ["example.org"], GEN)


def _conf(text: str) -> dict[str, str]:
    """OpenDMARC's `Key value` lines."""
    return dict(line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_filter_off_checks_spf_and_the_sender_domain_on_port_25(tmp_path):
    files = _render(tmp_path, features={"spam_filter": "0"})
    main = _params(files["postfix/main.cf"][0])
    # the router's own clients (loopback, mynetworks, the bridge address) pass before any lookup
    assert main["smtpd_sender_restrictions"].split(", ") == [
        "permit_mynetworks", "permit_sasl_authenticated", "reject_non_fqdn_sender", LOCAL,
        "reject_unknown_sender_domain"]
    assert main["smtpd_recipient_restrictions"].split(", ") == [
        "reject_non_fqdn_recipient", "reject_unlisted_recipient", "permit_mynetworks", LOCAL, SPF, "permit"]
    # HELO: syntax checks only, no reject_unknown_helo_hostname (docs/protection.md says why)
    assert "reject_unknown_helo_hostname" not in main["smtpd_helo_restrictions"]
    assert "reject_non_fqdn_helo_hostname" in main["smtpd_helo_restrictions"]
    assert "\npolicyd-spf_time_limit = 3600s\n" in files["postfix/main.cf"][0]
    spf = _services(files["postfix/master.cf"][0])["policyd-spf"]
    assert spf[0].split() == ["policyd-spf", "unix", "-", "n", "n", "-", "0", "spawn"]
    assert spf[1].split() == ["user=nobody", "argv=/usr/sbin/postfix-policyd-spf-perl"]
    assert files["postfix/local_clients.cidr"][0].splitlines()[-3:] == [
        "127.0.0.0/8 permit", "::1 permit", "10.231.0.1/32 permit"]


def test_filter_off_puts_opendmarc_after_opendkim_on_port_25_only(tmp_path):
    files = _render(tmp_path, features={"spam_filter": "0"})
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_milters"] == f"{DKIM_SOCK},{DMARC_SOCK}"
    assert main["non_smtpd_milters"] == DKIM_SOCK  # local mail is ours: signed, never DMARC-checked
    services = _services(files["postfix/master.cf"][0])
    for name in ("587", "465"):  # their own milters and restrictions: no SPF, no DMARC
        opts = " ".join(services[name])
        assert f"smtpd_milters={DKIM_SOCK}" in opts and "policyd-spf" not in opts
    conf = _conf(files["opendmarc/opendmarc.conf"][0])
    assert conf["RejectFailures"] == "true" and conf["HoldQuarantinedMessages"] == "false"
    assert conf["SPFSelfValidate"] == "true" and conf["SPFIgnoreResults"] == "true"  # forged headers ignored
    assert conf["AuthservID"] == conf["TrustedAuthservIDs"] == "mail.example.org"  # OpenDKIM's verdicts
    assert conf["Socket"] == "local:/var/spool/postfix/opendmarc/opendmarc.sock"
    assert conf["FailureReports"] == "false" and "HistoryFile" not in conf
    assert conf["IgnoreHosts"] == "/etc/opendmarc/ignore.hosts"
    assert files["opendmarc/ignore.hosts"][0].split() == ["127.0.0.0/8", "::1", "10.231.0.1/32"]
    reload = files["container/reload"][0]
    assert "launch opendmarc -c /etc/opendmarc.conf" in reload
    assert 'usermod -a -G opendmarc postfix' in reload
    assert 'kill "$(cat /run/opendmarc/opendmarc.pid)"' in files["container/stop"][0]
    assert "/run/opendmarc/opendmarc.pid" in files["container/start"][0]  # a stale pid file is removed


def test_network_mode_host_trusts_only_loopback(tmp_path):
    import dataclasses

    settings = make_settings(tmp_path / "data", features={"spam_filter": "0"})
    settings = dataclasses.replace(settings, container=dataclasses.replace(settings.container,
                                                                           network_mode="host"))
    files = render.render_all(settings, ["example.org"], GEN)
    assert files["opendmarc/ignore.hosts"][0].split() == ["127.0.0.0/8", "::1"]
    assert "10.231.0.1" not in files["postfix/local_clients.cidr"][0]


def test_filter_on_has_no_light_path_and_stops_opendmarc(tmp_path):
    files = _render(tmp_path)
    main = _params(files["postfix/main.cf"][0])
    assert SPF not in main["smtpd_recipient_restrictions"]
    assert "reject_unknown_sender_domain" not in main["smtpd_sender_restrictions"]
    assert "opendmarc" not in main["smtpd_milters"] and "policyd-spf" not in files["postfix/master.cf"][0]
    assert not [p for p in files if p.startswith("opendmarc/") or p == "postfix/local_clients.cidr"]
    reload = files["container/reload"][0]
    assert 'kill "$(cat /run/opendmarc/opendmarc.pid)"' in reload and "launch opendmarc" not in reload


def test_sender_checks_0_turns_the_light_path_off(tmp_path):
    files = _render(tmp_path, features={"spam_filter": "0"}, protection={"sender_checks": "0"})
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_recipient_restrictions"] == "reject_non_fqdn_recipient, reject_unlisted_recipient, permit"
    assert main["smtpd_sender_restrictions"] == "permit_mynetworks, permit_sasl_authenticated, reject_non_fqdn_sender"
    assert main["smtpd_milters"] == DKIM_SOCK
    assert "opendmarc/opendmarc.conf" not in files


def test_the_dmarc_config_is_checked_before_it_goes_live():
    commands = deploy.check_commands("/g", dkim=True, spam=False, dmarc=True)
    assert ["opendmarc", "-n", "-c", "/g/opendmarc/opendmarc.conf"] in commands
    assert not [c for c in deploy.check_commands("/g", dkim=True, spam=True) if c[0] == "opendmarc"]
