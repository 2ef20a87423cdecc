"""Rendered Postfix/Dovecot/OpenDKIM config: every security setting is asserted, ports follow settings."""

from __future__ import annotations

import dataclasses
import re

import pytest

from secumail.mail import render
from tests.support.settings import mail_settings as make_settings

GEN = "/srv/mailserver/config/generated/g1"
SPAM_FILES = {
    **{f"rspamd/local.d/{name}": 0o644 for name in (
        "actions.conf", "redis.conf", "classifier-bayes.conf", "milter_headers.conf", "greylist.conf",
        "dmarc.conf", "neural.conf", "history_redis.conf", "replies.conf", "reputation.conf", "clickhouse.conf",
        "elastic.conf",
        "metric_exporter.conf", "fuzzy_check.conf")},
    **{f"rspamd/override.d/{name}": 0o644 for name in (
        "options.inc", "worker-proxy.inc", "worker-controller.inc", "worker-normal.inc", "worker-fuzzy.inc",
        "logging.inc")},
    "redis/redis.conf": 0o644, "dovecot/sieve/spam-to-junk.sieve": 0o644, "dovecot/sieve/learn-spam.sieve": 0o644,
    "dovecot/sieve/learn-ham.sieve": 0o644, "dovecot/sieve/bin/rspamd-learn": 0o755,
}


def _params(text: str) -> dict[str, str]:
    """Postfix/Dovecot 'key = value' lines at top level (the last one wins, as in Postfix)."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_0-9]+)\s*=\s*(.*)$", line)
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data")


@pytest.fixture
def files(settings):
    return render.render_all(settings, ["example.net", "example.org"], GEN)


def test_every_file_and_mode(files):
    assert {path: mode for path, (_, mode) in files.items()} == {
        "postfix/main.cf": 0o644, "postfix/master.cf": 0o644,
        "dovecot/dovecot.conf": 0o644, "dovecot/quota-warning.sh": 0o755,
        "opendkim/opendkim.conf": 0o644, "opendkim/KeyTable": 0o644,
        "opendkim/SigningTable": 0o644, "opendkim/TrustedHosts": 0o644,
        "container/start": 0o755, "container/stop": 0o755, "container/reload": 0o755,
        "lighttpd/lighttpd.conf": 0o644,  # dns.autoconfig (on by default): autoconfig and autodiscover on 443
        **SPAM_FILES, "postfix/postscreen_access.cidr": 0o644, "postfix/ratelimit-policy": 0o755,
        "postfix/header_checks": 0o644, "postfix/roles": 0o644,
    }
    for path, (content, _) in files.items():
        assert "{{" not in content, path


def test_postfix_security_settings(files):
    main = _params(files["postfix/main.cf"][0])
    assert main["mynetworks"] == "127.0.0.0/8 [::1]/128"  # loopback only, never the bridge
    assert "reject_unauth_destination" in main["smtpd_relay_restrictions"]
    assert main["smtpd_relay_restrictions"].split(", ") == [
        "permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]
    assert main["smtpd_tls_auth_only"] == "yes"
    assert main["smtpd_sasl_auth_enable"] == "no"  # only on submission/smtps
    assert main["smtpd_sasl_type"] == "dovecot" and main["smtpd_sasl_path"] == "private/auth"
    assert "noanonymous" in main["smtpd_sasl_security_options"]
    assert main["smtpd_tls_mandatory_protocols"] == ">=TLSv1.2"
    assert main["smtpd_tls_cert_file"] == "/srv/mailserver/ssl/fullchain.pem"
    assert main["smtpd_tls_key_file"] == "/srv/mailserver/ssl/privkey.pem"
    assert main["smtpd_helo_required"] == "yes"
    assert main["disable_vrfy_command"] == "yes"
    assert main["recipient_delimiter"] == "+"
    assert main["message_size_limit"] == str(50 * 1024 * 1024)
    assert main["virtual_transport"] == "lmtp:unix:private/dovecot-lmtp"
    assert main["virtual_mailbox_domains"] == "texthash:/srv/mailserver/config/vdomains"
    assert main["virtual_mailbox_maps"] == "texthash:/srv/mailserver/config/vmailbox"
    # the account aliases first, then the RFC 2142 roles of every domain (a mailbox or alias wins)
    assert main["virtual_alias_maps"] == f"texthash:/srv/mailserver/config/valias, texthash:{GEN}/postfix/roles"
    assert main["mydestination"] == "localhost"
    assert main["relay_domains"] == ""
    # port 25: Rspamd alone (OpenDKIM after it dropped its Authentication-Results); local mail: OpenDKIM
    assert main["smtpd_milters"] == "unix:/var/spool/postfix/rspamd/milter.sock"
    assert main["non_smtpd_milters"] == "unix:/var/spool/postfix/opendkim/opendkim.sock"
    assert main["myhostname"] == "mail.example.org"
    text = files["postfix/main.cf"][0]
    # DNS blocklists are weighed by postscreen only: smtpd never refuses on one list's say-so
    assert "reject_rbl_client" not in text


def _services(master: str) -> dict[str, list[str]]:
    """master.cf service name → its lines (first line plus -o continuation lines)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in master.splitlines():
        if not line or line.startswith("#"):
            continue
        if line[0].isspace():
            out[current].append(line.strip())
        else:
            current = line.split()[0]
            out[current] = [line]
    return out


def test_master_cf_submission_needs_tls_and_auth(files):
    services = _services(files["postfix/master.cf"][0])
    assert services["25"][0].split()[1:] == ["inet", "n", "-", "n", "-", "1", "postscreen"]
    assert services["smtpd"][0].split()[1:] == ["pass", "-", "-", "n", "-", "-", "smtpd"]
    assert len(services["25"]) == 1 and len(services["smtpd"]) == 1  # port 25: no auth at all
    for port, wrapper in (("587", False), ("465", True)):
        opts = services[port][1:]
        assert "-o smtpd_sasl_auth_enable=yes" in opts
        assert "-o smtpd_tls_security_level=encrypt" in opts
        # authenticated submissions are not Rspamd's to judge: OpenDKIM (signing) only
        assert "-o smtpd_milters=unix:/var/spool/postfix/opendkim/opendkim.sock" in opts
        assert "-o smtpd_tls_auth_only=yes" in opts
        assert "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject" in opts
        assert "-o smtpd_client_restrictions=permit_sasl_authenticated,reject" in opts
        assert ("-o smtpd_tls_wrappermode=yes" in opts) == wrapper
    for line in files["postfix/master.cf"][0].splitlines():
        fields = line.split()
        if fields and not line[0].isspace() and not line.startswith("#"):
            assert fields[4] == "n", line  # no chroot: the container is the jail


def test_ports_follow_settings_and_zero_disables(settings):
    ports = dataclasses.replace(settings.ports, smtp=2525, submission=0, smtps=4650, pop3=0, pop3s=0,
                                imap=1143, sieve=0)
    changed = dataclasses.replace(settings, ports=ports)
    files = render.render_all(changed, [], GEN)
    services = _services(files["postfix/master.cf"][0])
    assert "2525" in services and "4650" in services
    assert "25" not in services and "587" not in services
    dovecot = files["dovecot/dovecot.conf"][0]
    assert _params(dovecot)["protocols"] == "imap lmtp"
    assert "pop3-login" not in dovecot and "managesieve-login" not in dovecot
    assert "port = 1143" in dovecot and "port = 993" in dovecot


def test_dovecot_security_and_router_sizing(files):
    text = files["dovecot/dovecot.conf"][0]
    conf = _params(text)
    assert conf["protocols"] == "imap lmtp pop3 sieve"
    assert conf["disable_plaintext_auth"] == "yes"
    assert conf["ssl"] == "required"
    assert conf["ssl_min_protocol"] == "TLSv1.2"
    assert conf["ssl_cert"] == "</srv/mailserver/ssl/fullchain.pem"
    assert conf["ssl_key"] == "</srv/mailserver/ssl/privkey.pem"
    assert conf["mail_location"] == "maildir:/srv/mailserver/mail/%d/%n"
    assert conf["mail_home"] == "/srv/mailserver/home/%d/%n"  # sieve scripts outside the maildir
    assert conf["mail_uid"] == "5000" and conf["mail_gid"] == "5000"
    assert conf["first_valid_uid"] == "5000"
    assert conf["recipient_delimiter"] == "+"
    assert "driver = passwd-file" in text
    assert "args = scheme=BLF-CRYPT username_format=%Lu /srv/mailserver/config/users" in text
    assert conf["auth_cache_size"] == "1M"
    assert int(conf["default_process_limit"]) <= 20
    assert "service_count = 0" in text  # high-performance login processes
    assert "quota = maildir:User quota" in text and "quota_warning = storage=95%%" in text
    assert f"executable = script {GEN}/dovecot/quota-warning.sh" in text
    assert "unix_listener /var/spool/postfix/private/dovecot-lmtp" in text
    assert "unix_listener /var/spool/postfix/private/auth" in text
    assert "mail_plugins = $mail_plugins sieve" in text
    assert "port = 4190" in text and "port = 110" in text and "port = 995" in text
    assert conf["postmaster_address"] == "postmaster@example.org"


def test_opendkim_tables_per_domain(files):
    keys = files["opendkim/KeyTable"][0].splitlines()
    assert keys == [
        "mail._domainkey.example.net example.net:mail:/run/opendkim/keys/example.net/mail.private",
        "mail._domainkey.example.org example.org:mail:/run/opendkim/keys/example.org/mail.private",
    ]
    assert files["opendkim/SigningTable"][0].splitlines() == [
        "*@example.net mail._domainkey.example.net", "*@example.org mail._domainkey.example.org"]
    assert files["opendkim/TrustedHosts"][0].split() == ["127.0.0.1", "::1", "localhost"]
    conf = files["opendkim/opendkim.conf"][0]
    assert "Socket local:/var/spool/postfix/opendkim/opendkim.sock" in conf
    assert f"SigningTable refile:{GEN}/opendkim/SigningTable" in conf
    assert f"KeyTable {GEN}/opendkim/KeyTable" in conf
    assert "Mode sv" in conf and "RequireSafeKeys yes" in conf
    reload = files["container/reload"][0]
    assert ('install -D -o opendkim -g opendkim -m 0600 "$DATA/dkim/example.net/mail.private" '
            '"/run/opendkim/keys/example.net/mail.private"') in reload
    assert "opendkim -x /etc/opendkim.conf" in reload


def test_ed25519_second_selector(settings):
    on = dataclasses.replace(settings, dkim=dataclasses.replace(settings.dkim, ed25519=True, selector="s1"))
    files = render.render_all(on, ["example.org"], GEN)
    assert files["opendkim/SigningTable"][0].splitlines() == [
        "*@example.org s1._domainkey.example.org", "*@example.org s1-ed._domainkey.example.org"]


def test_dkim_off_means_no_milter_and_no_opendkim(settings):
    off = dataclasses.replace(settings, features=dataclasses.replace(settings.features, dkim=False,
                                                                     spam_filter=False))
    files = render.render_all(off, ["example.org"], GEN)
    # no OpenDKIM; the light path's OpenDMARC alone (it checks SPF itself, sees no DKIM verdict)
    assert _params(files["postfix/main.cf"][0])["smtpd_milters"] == "unix:/var/spool/postfix/opendmarc/opendmarc.sock"
    assert not any(path.startswith("opendkim/") for path in files)
    assert "opendkim -x" not in files["container/reload"][0]
    assert "kill" in files["container/reload"][0]  # a running OpenDKIM is stopped


def test_every_domain_has_postmaster_and_abuse(settings):
    """RFC 2142: a domain added without mailboxes still receives postmaster@ and abuse@ (the server's
    postmaster mailbox); the postmaster address itself is the mailbox, not an alias of itself."""
    roles = render.render_all(settings, ["example.net"], GEN)["postfix/roles"][0]
    lines = [line for line in roles.splitlines() if not line.startswith("#")]
    assert lines == ["postmaster@example.net postmaster@example.org", "abuse@example.net postmaster@example.org",
                     "abuse@example.org postmaster@example.org"]
    moved = make_settings(settings.main.data_path, postmaster="admin")
    roles = render.render_all(moved, [], GEN)["postfix/roles"][0]
    assert roles.splitlines()[1:] == ["postmaster@example.org admin@example.org", "abuse@example.org admin@example.org"]


def test_primary_domain_always_rendered(settings):
    files = render.render_all(settings, [], GEN)
    assert "example.org" in files["opendkim/SigningTable"][0]


def test_render_is_pure_and_deterministic(settings):
    first = render.render_all(settings, ["b.test", "a.test"], GEN)
    assert first == render.render_all(settings, ["a.test", "b.test"], GEN)


def test_a_deploy_without_container_writes_files_with_modes_and_keys(settings, tmp_path):
    import os
    import stat

    from secumail.mail import deploy

    result = deploy.deploy(settings, None, domains=["example.org"])
    assert result["checked"] is False
    live = os.path.join(settings.main.data_path, "config", "live")
    gen = f"/srv/mailserver/config/generated/{result['generation']}"
    for rel, (content, mode) in render.render_all(settings, ["example.org"], gen).items():
        path = os.path.join(live, rel)
        with open(path) as handle:
            assert handle.read() == content, rel
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, rel
    with open(os.path.join(live, "dovecot/dovecot.conf")) as handle:
        assert f"{gen}/dovecot/quota-warning.sh" in handle.read()
    assert os.path.exists(os.path.join(settings.main.data_path, "dkim", "example.org", "mail.private"))


def test_selfsigned_certificate(tmp_path):
    import os
    import stat

    from cryptography import x509

    from secumail.mail.selfsigned import ensure_selfsigned

    assert ensure_selfsigned(str(tmp_path), "mail.example.org") is True
    key = tmp_path / "ssl" / "privkey.pem"
    cert = x509.load_pem_x509_certificate((tmp_path / "ssl" / "fullchain.pem").read_bytes())
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mail.example.org"]
    before = key.read_bytes()
    assert ensure_selfsigned(str(tmp_path), "mail.example.org") is False  # an existing cert is kept
    assert key.read_bytes() == before


def test_submission_enforces_sender_login(files):
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_sender_login_maps"] == "texthash:/srv/mailserver/config/vsenders"
    services = _services(files["postfix/master.cf"][0])
    for port in ("587", "465"):
        assert ("-o smtpd_sender_restrictions=reject_sender_login_mismatch,permit_sasl_authenticated,reject"
                in services[port])


@pytest.mark.parametrize("mode,tempfail,says", [
    ("bounce", "no", "new mail is returned to its senders."),
    ("defer", "yes", "new mail waits on the server and is returned to its senders after 5 days."),
])
def test_quota_full_bounces_or_defers_as_configured(settings, mode, tempfail, says):
    settings = dataclasses.replace(settings, main=dataclasses.replace(settings.main, quota_full=mode))
    files = render.render_all(settings, ["example.org"], GEN)
    text = files["dovecot/dovecot.conf"][0]
    assert _params(text)["quota_full_tempfail"] == tempfail  # a global setting: in plugin {} it is ignored
    assert _params(text)["lmtp_rcpt_check_quota"] == "yes"
    assert says in files["dovecot/quota-warning.sh"][0]


def test_quota_full_default_is_bounce(settings):
    assert settings.main.quota_full == "bounce"
    assert "quota_full_tempfail = no" in render.render_all(settings, ["example.org"], GEN)["dovecot/dovecot.conf"][0]


def test_host_network_mode_trusts_no_address(settings):
    """With network_mode host the container's loopback is the router's: no relay and no DKIM signature
    for mail that merely comes from 127.0.0.1 (any process on the router, a port forward)."""
    host = dataclasses.replace(settings, container=dataclasses.replace(settings.container, network_mode="host"))
    files = render.render_all(host, ["example.org"], GEN)
    assert _params(files["postfix/main.cf"][0])["mynetworks"] == ""
    trusted = [line for line in files["opendkim/TrustedHosts"][0].splitlines() if not line.startswith("#")]
    assert trusted == []
    conf = files["opendkim/opendkim.conf"][0]
    assert "\nMTA ORIGINATING\n" in conf  # submission/smtps (milter_macro_daemon_name) are signed
    assert "-o milter_macro_daemon_name=ORIGINATING" in files["postfix/master.cf"][0]
    bridge = render.render_all(settings, ["example.org"], GEN)  # own netns: its loopback is its own
    assert "127.0.0.1" in bridge["opendkim/TrustedHosts"][0]
