"""MTA-STS and DANE as rendered: lighttpd serving our policy (dns.mta_sts), Postfix asking
postfix-mta-sts-resolver (features.mta_sts_outbound), DANE (features.dane); the port 443 forward,
the certificate's names, the DNS name senders fetch from, the memory `auto` gives, the status line.
The web server itself (what it serves, when it runs): test_render_webserve.py."""

from __future__ import annotations

import os

from secumail.certs.paths import cert_names
from secumail.cli.server import status_text
from secumail.config.settings import (
    MTA_STS_RESOLVER_MEMORY_MB,
    SPAM_FILTER_MEMORY_MB,
    default_package,
    settings_from_package,
)
from secumail.dns.records import Keys, desired_records
from secumail.mail import firewall, mtasts, render
from tests.unit.mail.test_render import GEN, _params

DOMAINS = ["example.org", "other.net"]


def _settings(tmp_path, **sections):
    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(tmp_path / "data")})
    for name, values in sections.items():
        package[name].update(values)
    return settings_from_package(package)


def _render(tmp_path, **sections):
    return render.render_all(_settings(tmp_path, **sections), DOMAINS, GEN)


def test_by_default_no_policy_is_served_nothing_is_asked_and_tls_stays_opportunistic(tmp_path):
    settings = _settings(tmp_path, main={"enabled": "1"})
    files = render.render_all(settings, DOMAINS, GEN)
    assert "mta-sts." not in files["lighttpd/lighttpd.conf"][0]  # the web server runs for autoconfig only
    assert "mta-sts/mta-sts-daemon.yml" not in files
    main = _params(files["postfix/main.cf"][0])
    assert main["smtp_tls_security_level"] == "may"
    assert "smtp_tls_policy_maps" not in main and "smtp_dns_support_level" not in main
    assert "mta-sts-daemon -c" not in files["container/reload"][0]
    assert settings.container.memory == SPAM_FILTER_MEMORY_MB


def test_enforce_serves_each_domains_policy_on_443_with_the_appliance_certificate(tmp_path):
    settings = _settings(tmp_path, dns={"mta_sts": "enforce"}, main={"enabled": "1"})
    files = render.render_all(settings, DOMAINS, GEN)
    conf = files["lighttpd/lighttpd.conf"][0]
    assert "server.port = 443" in conf
    assert 'ssl.pemfile = "/srv/mailserver/ssl/fullchain.pem"' in conf
    assert 'ssl.privkey = "/srv/mailserver/ssl/privkey.pem"' in conf
    for domain in DOMAINS:
        root = f'server.document-root = "/srv/mailserver/mta-sts/{domain}"'
        allowed = r'$HTTP["url"] =~ "^(/\.well-known/mta-sts\.txt)$" {'
        assert f'$HTTP["host"] == "mta-sts.{domain}" {{\n    {root}\n    {allowed}' in conf
    assert '".txt" => "text/plain"' in conf  # RFC 8461 3.2: the policy is text/plain
    assert "! lighttpd -f /etc/lighttpd/secumail.conf" in files["container/reload"][0]
    redirect = firewall.desired(settings)["secumail_https"]
    assert (redirect["src_dport"], redirect["dest_port"], redirect["target"]) == ("443", "443", "DNAT")


def test_the_certificate_covers_the_policy_host_of_every_domain_while_served(tmp_path):
    served = _settings(tmp_path, dns={"mta_sts": "testing"})
    os.makedirs(served.layout.config)
    with open(served.layout.domains_file, "w") as handle:
        handle.write("example.org\nother.net\n")
    assert cert_names(served) == ["mail.example.org", "mta-sts.example.org", "autoconfig.example.org",
                                  "autodiscover.example.org", "mta-sts.other.net", "autoconfig.other.net",
                                  "autodiscover.other.net"]  # fmt: skip
    assert "mta-sts.example.org" not in cert_names(_settings(tmp_path))


def test_the_policy_host_is_a_cname_to_the_mail_host_only_while_served(tmp_path):
    keys = Keys(ipv4="192.0.2.1")

    def cnames(settings):
        return {rr.name: rr.values for rr in desired_records(settings, "example.org", keys) if rr.type == "CNAME"}

    served = cnames(_settings(tmp_path, dns={"mta_sts": "enforce"}))
    assert served["mta-sts.example.org"] == ("mail.example.org.",)
    assert "mta-sts.example.org" not in cnames(_settings(tmp_path))


def test_outbound_checks_ask_the_resolver_after_the_relays_table(tmp_path):
    files = _render(tmp_path, features={"mta_sts_outbound": "1"})
    main = _params(files["postfix/main.cf"][0])
    assert main["smtp_tls_policy_maps"] == mtasts.POLICY_MAP == "socketmap:inet:127.0.0.1:8461:postfix"
    daemon = files["mta-sts/mta-sts-daemon.yml"][0]
    assert "host: 127.0.0.1\nport: 8461\n" in daemon and "type: internal" in daemon
    reload = files["container/reload"][0]
    assert "setpriv --reuid=_mta-sts" in reload and "mta-sts-daemon -c /etc/mta-sts-daemon.yml" in reload

    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(tmp_path / "data")})
    package["features"]["mta_sts_outbound"] = "1"
    package["isp"] = {".type": "relay", ".name": "isp", ".anonymous": False, ".index": 99, "host": "smtp.isp.example",
                      "user": "me"}  # fmt: skip
    relayed = _params(render.render_all(settings_from_package(package), DOMAINS, GEN)["postfix/main.cf"][0])
    assert relayed["smtp_tls_policy_maps"] == f"texthash:{GEN}/postfix/relay_tls, {mtasts.POLICY_MAP}"


def test_the_resolver_adds_its_memory_to_auto(tmp_path):
    on = _settings(tmp_path, features={"mta_sts_outbound": "1"})
    assert on.container.memory == SPAM_FILTER_MEMORY_MB + MTA_STS_RESOLVER_MEMORY_MB


def test_dane_asks_for_dnssec_and_uses_level_dane(tmp_path):
    main = _params(_render(tmp_path, features={"dane": "1"})["postfix/main.cf"][0])
    assert main["smtp_tls_security_level"] == "dane"
    assert main["smtp_dns_support_level"] == "dnssec"


def test_status_shows_the_mta_sts_state_in_one_line():
    base = {"config": {"fqdn": "mail.example.org", "domain": "example.org", "enabled": True},
            "container": {"name": "mailserver", "state": "RUNNING"},
            "ports": {}, "mesh": {"enabled": False}}  # fmt: skip
    served = status_text({**base, "mta_sts": {"mode": "enforce", "served": True, "outbound": True, "dane": False}})
    line = next(line for line in served.splitlines() if line.startswith("MTA-STS:"))
    assert line == "MTA-STS:      policy enforce, served on 443, answering; checks other domains' policies; DANE off"
    off = status_text({**base, "mta_sts": {"mode": "none", "served": None, "outbound": False, "dane": True}})
    assert ("MTA-STS:      policy none, not served; other domains' policies not checked; DANE on"
            in off.splitlines())  # fmt: skip
