"""Inputs gathered from this machine: domain list, addresses, DKIM keys, certificate digest."""

import datetime
import hashlib
import os

import pytest

from secumail.dns import local
from secumail.errors import InputError


def test_domains_file_missing_means_main_domain_only(settings_factory):
    assert local.mail_domains(settings_factory()) == ["example.com"]


def test_domains_file_is_read_defensively(settings_factory, tmp_path):
    os.makedirs(tmp_path / "config")
    (tmp_path / "config" / "domains").write_text(
        "# ours\nexample.org\n\nEXAMPLE.net  extra\nexample.com\nnot a..name\n"
    )
    assert local.mail_domains(settings_factory()) == ["example.com", "example.org", "example.net"]


def test_select_unknown_domain_is_an_input_error(settings_factory):
    with pytest.raises(InputError, match="example.org is not one of this server's mail domains"):
        local.select_domains(settings_factory(), "example.org")


def test_configured_address_wins_and_nothing_detected_means_empty(settings_factory, monkeypatch, caplog):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("secumail.system.proc.which", lambda prog: None)
    monkeypatch.setattr("secumail.dns.wan.default_route_device", lambda root="/": None)
    assert local.public_addresses(settings_factory(dns={"public_ipv4": "192.0.2.7"})) == ("192.0.2.7", "")
    s = settings_factory(dns={"wan_interface": "nosuchif0"})
    assert local.public_addresses(s) == ("", "")
    assert "no interface nosuchif0 and no default route" in caplog.text


def test_wan_addresses_from_ubus(settings_factory, tmp_path, monkeypatch):
    ubus = tmp_path / "bin" / "ubus"
    ubus.parent.mkdir()
    ubus.write_text(
        '#!/bin/sh\ncase "$2" in\n *wan6) echo \'{"ipv6-address":[{"address":"fe80::1"},'
        '{"address":"fd00::7"},{"address":"2001:4860::5"}]}\';;\n *wan) echo \'{"ipv4-address":[{"address":"10.0.0.2"},'
        '{"address":"8.8.4.4","mask":24}]}\';;\nesac\n'
    )
    ubus.chmod(0o755)
    monkeypatch.setenv("PATH", f"{ubus.parent}:{os.environ['PATH']}")
    assert local.public_addresses(settings_factory()) == ("8.8.4.4", "")
    assert local.public_addresses(settings_factory(dns={"public_ipv6": "wan"})) == ("8.8.4.4", "2001:4860::5")


def test_dkim_values_come_from_the_mail_package(settings_factory, tmp_path):
    from secumail.mail import dkim

    s = settings_factory(dkim={"ed25519": True})
    assert local.dkim_values(s, "example.com") == {}
    dkim.ensure_key(str(tmp_path), "example.com", "mail", bits=1024)
    dkim.ensure_key(str(tmp_path), "example.com", "mail-ed", algorithm="ed25519")
    values = local.dkim_values(s, "example.com")
    assert values["mail"] == dkim.dns_txt_value(str(tmp_path), "example.com", "mail")
    assert values["mail-ed"].startswith("v=DKIM1; k=ed25519; p=")


def test_missing_dkim_names_the_selectors_without_a_key_and_logs_nothing(settings_factory, tmp_path, caplog):
    from secumail.mail import dkim

    s = settings_factory(dkim={"ed25519": True})
    dkim.ensure_key(str(tmp_path), "example.com", "mail-ed", algorithm="ed25519")
    keys = local.gather_keys(s, "example.com", ("192.0.2.1", ""))
    assert local.missing_dkim(s, keys) == ["mail"]
    assert local.missing_dkim(settings_factory(features={"dkim": False}), keys) == []
    assert caplog.records == []  # the caller says it once (a dry-run note, a dns-check row)


def test_tlsa_digest_is_the_spki_sha256_of_the_leaf(settings_factory, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    s = settings_factory(dns={"dnssec": True})
    assert local.tlsa_digest(s) == ""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "mail.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    os.makedirs(tmp_path / "ssl")
    (tmp_path / "ssl" / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert local.tlsa_digest(s) == hashlib.sha256(spki).hexdigest()
    keys = local.gather_keys(s, "example.com", ("192.0.2.1", ""))
    assert keys.tlsa_sha256 == hashlib.sha256(spki).hexdigest()
