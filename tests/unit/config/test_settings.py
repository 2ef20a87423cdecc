"""Settings from UCI: defaults, typed values, one clear error per bad value."""

import dataclasses
import os

import pytest

from secumail.config import load_settings
from secumail.config.defaults import render_defaults
from secumail.config.settings import (
    BASE_MEMORY_MB,
    SPAM_FILTER_MEMORY_MB,
    Settings,
    default_package,
    settings_from_package,
)
from secumail.errors import ConfigError
from tests.support.paths import REPO


def write_config(confdir, text):
    os.makedirs(confdir, exist_ok=True)
    with open(os.path.join(confdir, "mailserver"), "w") as handle:
        handle.write(text)


def test_defaults_match_secubox_mailserver():
    s = settings_from_package(default_package())
    assert s.main.enabled is False
    assert (s.main.hostname, s.main.domain, s.main.postmaster) == ("mail", "example.com", "postmaster")
    assert s.main.data_path == "/srv/mailserver"
    assert s.main.container == "mailserver"
    assert dataclasses.asdict(s.ports) == {
        "smtp": 25, "submission": 587, "smtps": 465, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995,
        "sieve": 4190, "dav": 5232,
    }  # fmt: skip
    assert s.features.dkim and s.features.spf and s.features.dmarc and s.features.fail2ban
    assert s.features.virus_scan is False
    assert s.ssl.type == "letsencrypt"
    assert (s.webmail.enabled, s.webmail.container, s.webmail.port) == (False, "secubox-webmail", 8026)
    assert (s.mesh.enabled, s.mesh.sync_interval, s.mesh.backup_peers) == (False, 3600, ())
    assert s.main.fqdn == "mail.example.com"


def test_shipped_config_file_equals_schema_defaults(tmp_path):
    """files/etc/config/mailserver (with comments) holds exactly the schema's defaults."""
    shipped = load_settings(os.path.join(REPO, "files", "etc", "config"), str(tmp_path / "save"))
    assert shipped == settings_from_package(default_package())


def test_rendered_defaults_load_back(tmp_path):
    write_config(tmp_path, render_defaults())
    assert load_settings(str(tmp_path), str(tmp_path / "save")) == settings_from_package(default_package())


def test_missing_config_is_installed_from_defaults(tmp_path):
    confdir = tmp_path / "etc" / "config"
    settings = load_settings(str(confdir), str(tmp_path / "save"))
    assert (confdir / "mailserver").exists()
    assert settings.main.domain == "example.com"


def test_values_are_typed(tmp_path):
    write_config(tmp_path, """
config mailserver 'main'
	option enabled 'yes'
	option domain 'Bücher.example'
	option hostname 'mx1.bücher.example'

config ports 'ports'
	option pop3 '0'
	option pop3s ''

config acme 'acme'
	list extra_names 'autoconfig.example.org'
	list extra_names 'mta-sts.example.org'
""")
    s = load_settings(str(tmp_path), str(tmp_path / "save"))
    assert s.main.enabled is True
    assert s.main.domain == "xn--bcher-kva.example"
    assert s.main.fqdn == "mx1.xn--bcher-kva.example"
    assert "pop3" not in s.ports.enabled()
    assert s.ports.pop3s == 995  # libuci drops an empty option, so the default applies: '0' turns it off
    assert s.acme.extra_names == ("autoconfig.example.org", "mta-sts.example.org")


def test_anonymous_section_of_the_right_type_is_used(tmp_path):
    write_config(tmp_path, "\nconfig mailserver\n\toption domain 'anon.example'\n")
    assert load_settings(str(tmp_path), str(tmp_path / "save")).main.domain == "anon.example"


@pytest.mark.parametrize(
    ("section", "option", "value", "message"),
    [
        ("main", "domain", "exa mple.com", "mailserver.main.domain: 'exa mple.com' is not a valid domain name"),
        ("ports", "smtp", "99999", "mailserver.ports.smtp: '99999' is not a valid port (1-65535)"),
        ("main", "data_path", "srv/mail", "mailserver.main.data_path: 'srv/mail' is not an absolute path"),
        ("main", "enabled", "maybe", "mailserver.main.enabled: 'maybe' is not a boolean"),
        ("mesh", "sync_interval", "5", "mailserver.mesh.sync_interval: '5' is out of range"),
        ("ssl", "type", "magic", "mailserver.ssl.type: 'magic' is not one of"),
    ],
)
def test_bad_value_names_option_and_value(tmp_path, section, option, value, message):
    write_config(tmp_path, f"\nconfig {_type(section)} '{section}'\n\toption {option} '{value}'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), str(tmp_path / "save"))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def _type(section):
    return "mailserver" if section == "main" else section


def test_ports_must_be_unique(tmp_path):
    write_config(tmp_path, "\nconfig ports 'ports'\n\toption imap '25'\n")
    with pytest.raises(ConfigError, match=r"mailserver.ports.imap: '25' is already used by mailserver.ports.smtp"):
        load_settings(str(tmp_path), str(tmp_path / "save"))


A_ID, B_ID = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", "2222-3333-4444-5555-6666-7777-AAAA-BBBB"


def test_peers_are_read_in_order(tmp_path):
    write_config(tmp_path, f"""
config peer 'alpha'
	option node_id '{A_ID}'
	option address '10.0.0.2'

config peer
	option node_id '{B_ID.lower().replace("-", "")}'
	option port '7100'
""")
    s = load_settings(str(tmp_path), str(tmp_path / "save"))
    assert [(p.node_id, p.address, p.port) for p in s.pinned_peers] == [(A_ID, "10.0.0.2", 7022), (B_ID, "", 7100)]


def test_backup_peers_are_folded_into_the_pinned_peers_once(tmp_path):
    write_config(tmp_path, f"""
config mesh 'mesh'
	option port '7200'
	list backup_peers '{B_ID}'
	list backup_peers '{A_ID.lower()}'

config peer 'alpha'
	option node_id '{A_ID}'
	option address 'peer.example.net'
""")
    s = load_settings(str(tmp_path), str(tmp_path / "save"))
    assert [(p.name, p.node_id, p.address, p.port) for p in s.pinned_peers] == [
        ("alpha", A_ID, "peer.example.net", 7200),  # no port given: mesh.port
        ("", B_ID, "", 7200),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("config peer 'p'\n\toption address '10.0.0.2'\n",
         "mailserver.p.node_id: '' is not a node id: it is required"),
        ("config peer 'p'\n\toption node_id 'AAAA'\n", "mailserver.p.node_id: 'AAAA' is not a node id"),
        (f"config peer\n\toption node_id '{A_ID}'\n\toption port '99999'\n",
         "mailserver.@peer[0].port: '99999' is not a valid port"),
        (f"config peer 'p'\n\toption node_id '{A_ID}'\n\toption address '10.0.0.2:7022'\n",
         "mailserver.p.address: '10.0.0.2:7022' is not an IP address or a host name"),
        (f"config peer 'p'\n\toption node_id '{A_ID}'\n\toption colour 'red'\n", None),
        (f"config peer 'p'\n\toption node_id '{A_ID}'\nconfig peer 'q'\n\toption node_id '{A_ID.lower()}'\n",
         f"mailserver.q.node_id: '{A_ID}' is already pinned by mailserver.p"),
        ("config mesh 'mesh'\n\tlist backup_peers 'node-one'\n",
         "mailserver.mesh.backup_peers: 'node-one' is not a node id"),
    ],
)
def test_peers_are_validated_like_every_section(tmp_path, text, message):
    write_config(tmp_path, "\n" + text)
    if message is None:  # an unknown option is ignored on load, as in every section (config set refuses it)
        load_settings(str(tmp_path), str(tmp_path / "save"))
        return
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), str(tmp_path / "save"))
    assert str(info.value).startswith(message)


def test_settings_are_immutable():
    s = settings_from_package(default_package())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.main.domain = "other.example"  # type: ignore[misc]


def test_to_dict_is_json_ready():
    import json

    data = settings_from_package(default_package()).to_dict()
    assert json.loads(json.dumps(data))["container"]["address"] == "10.231.0.2/24"
    assert isinstance(Settings, type)


def test_configuration_doc_lists_every_option():
    from secumail.config.defaults import render_reference

    with open(os.path.join(REPO, "docs", "configuration.md")) as handle:
        doc = handle.read()
    assert render_reference() in doc, "docs/configuration.md is stale: regenerate its reference part"


@pytest.mark.parametrize(
    ("section", "option", "value", "problem"),
    [
        ("acme", "directory", "http://acme.example/dir", "is not an https:// URL"),
        ("dns", "server", "http://192.0.2.1:8081", "is not an https:// URL (http:// only to this machine"),
        ("container", "mirror", "http://dl-cdn.example/alpine", "http:// is allowed only for the debian provisioner"),
    ],
)
def test_clear_text_urls_are_refused_naming_the_option(section, option, value, problem):
    package = default_package()
    package[section][option] = value
    if option == "mirror":
        package["container"]["provisioner"] = "alpine"
    with pytest.raises(ConfigError) as exc:
        settings_from_package(package)
    assert str(exc.value).startswith(f"mailserver.{section}.{option}: {value!r} ")
    assert problem in str(exc.value)


def test_allowed_urls():
    package = default_package()
    package["acme"]["directory"] = "https://acme.example/dir"
    package["dns"]["server"] = "http://127.0.0.1:8081"
    package["container"]["mirror"] = "http://deb.debian.org/debian"  # debian: apt checks the signatures
    s = settings_from_package(package)
    assert (s.acme.directory, s.dns.server, s.container.mirror) == (
        "https://acme.example/dir", "http://127.0.0.1:8081", "http://deb.debian.org/debian")


@pytest.mark.parametrize(("spam_filter", "want"), [("1", SPAM_FILTER_MEMORY_MB), ("0", BASE_MEMORY_MB)])
def test_container_memory_auto_is_what_the_features_need(spam_filter, want):
    package = default_package()
    assert package["container"]["memory"] == "auto"
    package["features"]["spam_filter"] = spam_filter
    assert settings_from_package(package).container.memory == want


def test_a_memory_limit_the_spam_filter_cannot_start_in_is_refused_in_one_line():
    package = default_package()
    package["container"]["memory"] = "256"
    with pytest.raises(ConfigError) as exc:
        settings_from_package(package)
    message = str(exc.value)
    assert message.startswith("mailserver.container.memory: '256' MiB is too small for features.spam_filter 1")
    assert f"at least {SPAM_FILTER_MEMORY_MB}" in message and "\n" not in message
    package["features"]["spam_filter"] = "0"  # the light path fits
    assert settings_from_package(package).container.memory == 256
    package["features"]["spam_filter"] = "1"
    package["container"]["memory"] = str(SPAM_FILTER_MEMORY_MB)
    assert settings_from_package(package).container.memory == SPAM_FILTER_MEMORY_MB
