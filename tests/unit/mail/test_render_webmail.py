"""Roundcube's container config (secumail.mail.webmail): pure functions of Settings."""

from __future__ import annotations

import dataclasses
import ipaddress

from secumail.mail import firewall, webmail
from secumail.mail.selfsigned import selfsigned_pem
from tests.support.settings import make_settings


def _settings(enabled: bool = False, **sections):
    main = {"domain": "example.org", "hostname": "mail", "enabled": enabled}
    return make_settings("/srv/mailserver", main=main, **sections)


def test_the_webmail_container_is_the_next_address_on_the_bridge():
    s = _settings(container={"address": ipaddress.IPv4Interface("10.9.0.7/24")})
    assert webmail.webmail_address(s) == ipaddress.IPv4Interface("10.9.0.8/24")


def test_imap_smtp_and_sieve_over_tls_with_the_certificate_checked_against_the_name():
    text = webmail.roundcube_config(_settings(), "k" * 24)
    assert '$config["imap_host"] = "ssl://mail.example.org:993";' in text
    assert '$config["smtp_host"] = "ssl://mail.example.org:465";' in text
    assert '"verify_peer" => true, "verify_peer_name" => true, "peer_name" => "mail.example.org"' in text
    assert f'"cafile" => "{webmail.CA_FILE}"' in text
    assert '$config["db_dsnw"] = "sqlite:////srv/webmail/roundcube.db?mode=0640";' in text
    assert '$config["plugins"] = ["managesieve", "archive", "zipdownload", "password"];' in text
    assert '$config["enable_installer"] = false;' in text
    sieve = webmail.managesieve_config(_settings())
    assert '$config["managesieve_host"] = "tls://mail.example.org:4190";' in sieve


def test_starttls_ports_when_implicit_tls_is_off_and_no_managesieve_without_its_port():
    s = _settings(ports={"imaps": 0, "smtps": 0, "sieve": 0})
    assert webmail.servers(s) == {"imap": "tls://mail.example.org:143", "smtp": "tls://mail.example.org:587",
                                  "sieve": ""}  # fmt: skip
    assert "managesieve" not in webmail.roundcube_config(s, "k" * 24)


def test_php_strings_are_escaped():
    text = webmail.roundcube_config(_settings(), 'a"b$c\\d' + "x" * 17)
    assert '$config["des_key"] = "a\\"b\\$c\\\\dxxxxxxxxxxxxxxxxx";' in text


def test_web_server_and_php_fpm():
    s = _settings(webmail={"port": 8099})
    conf = webmail.lighttpd_conf(s)
    assert "server.port = 8099" in conf and f'"socket" => "{webmail.FPM_SOCKET}"' in conf
    assert f'server.document-root = "{webmail.DOCROOT}"' in conf
    assert "pm = ondemand" in webmail.fpm_pool()
    start = webmail.start_script("8.2")
    assert "/usr/sbin/php-fpm8.2 --daemonize" in start and "lighttpd -f /etc/lighttpd/webmail.conf" in start


def test_hosts_point_the_server_name_at_the_mail_container():
    hosts = webmail.hosts(_settings(), "10.231.0.2")
    assert "10.231.0.2\tmail.example.org\n" in hosts
    assert "10.231.0.3\tsecubox-webmail\n" in hosts


def test_self_signed_is_told_apart():
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = selfsigned_pem(["mail.example.org"], ec.generate_private_key(ec.SECP256R1()), 30).decode()
    assert webmail.self_signed(pem)
    assert not webmail.self_signed("not a certificate")


def test_fw4_forwards_the_webmail_port_only_when_enabled():
    off = _settings(enabled=True)
    assert "secumail_webmail" not in firewall.desired(off)
    on = dataclasses.replace(off, webmail=dataclasses.replace(off.webmail, enabled=True))
    rule = firewall.desired(on)["secumail_webmail"]
    assert (rule["src_dport"], rule["dest_ip"], rule["dest_port"]) == ("8026", "10.231.0.3", "8026")
