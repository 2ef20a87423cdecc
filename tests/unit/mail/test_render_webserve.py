"""The container's web server as rendered (secumail.mail.webserve): when lighttpd runs, what each
name answers, the 443 forward, the certificate's names, the read-only mount, the status line. Served
for real: tests/integration/internet/test_autoconfig.py."""

from __future__ import annotations

import os

from secumail.certs.paths import cert_names
from secumail.cli.server import status_text
from secumail.config.settings import default_package, settings_from_package
from secumail.mail import firewall, layout, render, webserve
from tests.unit.mail.test_render import GEN

DOMAINS = ["example.org", "other.net"]


def _settings(tmp_path, **sections):
    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(tmp_path / "data"), "enabled": "1"})
    for name, values in sections.items():
        package[name].update(values)
    settings = settings_from_package(package)
    os.makedirs(settings.layout.config, exist_ok=True)
    with open(settings.layout.domains_file, "w") as handle:
        handle.write("example.org\nother.net\n")
    return settings


def test_one_predicate_decides_lighttpd_the_443_forward_and_the_certificate_names(tmp_path):
    cases = {  # (dns.autoconfig, dns.mta_sts, network_mode) -> lighttpd runs
        ("1", "none", "bridge"): True,
        ("0", "testing", "bridge"): True,
        ("0", "none", "bridge"): False,
        ("1", "none", "host"): False,  # 443 is the router's own (LuCI) there
        ("1", "enforce", "host"): True,
    }
    for (auto, sts, mode), runs in cases.items():
        settings = _settings(tmp_path, dns={"autoconfig": auto, "mta_sts": sts}, container={"network_mode": mode})
        files = render.render_all(settings, DOMAINS, GEN)
        reload = files["container/reload"][0]
        assert webserve.enabled(settings) is runs
        assert ("lighttpd/lighttpd.conf" in files) is runs
        assert ("! lighttpd -f /etc/lighttpd/secumail.conf" in reload) is runs
        assert ('kill "$(cat /run/lighttpd.pid)"' in reload) is not runs
        assert ("secumail_https" in firewall.desired(settings)) is runs
        assert (len(cert_names(settings)) > 1) is runs


def test_autoconfig_and_autodiscover_answer_only_their_paths_from_the_domains_files(tmp_path):
    conf = render.render_all(_settings(tmp_path), DOMAINS, GEN)["lighttpd/lighttpd.conf"][0]
    assert 'url.access-deny = ("")' in conf.split("$HTTP", 1)[0]  # everything refused first
    for domain in DOMAINS:
        root = f'server.document-root = "/srv/mailserver/autoconfig/{domain}"'
        config = (r'$HTTP["url"] =~ "^(/mail/config-v1\.1\.xml|/\.well-known/autoconfig/mail/config-v1\.1\.xml'
                  r'|/profile/[A-Za-z0-9_-]{20,64}\.mobileconfig)$" {')  # the setup's phone profile
        discover = r'$HTTP["url"] =~ "^(/autodiscover/autodiscover\.xml|/Autodiscover/Autodiscover\.xml)$" {'
        assert f'$HTTP["host"] == "autoconfig.{domain}" {{\n    {root}\n    {config}\n' in conf
        assert f'$HTTP["host"] == "autodiscover.{domain}" {{\n    {root}\n    {discover}\n' in conf
    assert conf.count("url.access-deny = ()") == 2 * len(DOMAINS)
    assert '".xml" => "text/xml; charset=utf-8"' in conf and "mta-sts." not in conf
    assert '".mobileconfig" => "application/x-apple-aspen-config"' in conf
    assert 'server.modules = ("mod_access", "mod_openssl")' in conf  # POST is the static handler's own
    assert 'server.feature-flags = ("server.h2proto" => "disable")' in conf  # POST over HTTP/2: a reset stream


def test_the_certificate_covers_autoconfig_and_autodiscover_of_every_domain(tmp_path):
    assert cert_names(_settings(tmp_path)) == [
        "mail.example.org", "autoconfig.example.org", "autodiscover.example.org",
        "autoconfig.other.net", "autodiscover.other.net",
    ]  # fmt: skip
    assert cert_names(_settings(tmp_path, dns={"autoconfig": "0"})) == ["mail.example.org"]


def test_the_files_are_mounted_read_only(tmp_path):
    mount = next(m for m in layout.MOUNTS if m.sub == "autoconfig")
    settings = _settings(tmp_path)
    assert mount.read_only and mount.target == "/srv/mailserver/autoconfig"
    assert mount.source(settings.layout) == os.path.dirname(settings.layout.autoconfig("example.org"))


def test_status_names_what_443_serves():
    base = {"config": {"fqdn": "mail.example.org", "domain": "example.org", "enabled": True},
            "container": {"name": "mailserver", "state": "RUNNING"},
            "ports": {}, "mesh": {"enabled": False}}  # fmt: skip
    served = status_text({**base, "web": {"serves": ["autoconfig", "autodiscover", "mta-sts"], "answering": True}})
    assert ("HTTPS 443:    autoconfig.example.org, autodiscover.example.org, mta-sts.example.org (each mail domain's), "
            "answering") in served
    down = status_text({**base, "web": {"serves": ["autoconfig", "autodiscover"], "answering": False}})
    assert "HTTPS 443:    autoconfig.example.org, autodiscover.example.org (each mail domain's), NOT answering" in down
    assert "HTTPS 443:    nothing served" in status_text({**base, "web": {"serves": [], "answering": None}})
