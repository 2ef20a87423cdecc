"""Where the challenge propagation check starts looking for the zone: the configured servers first."""

from secumail.certs import worker
from tests.support.settings import make_settings


def test_dns_server_address_with_its_port():
    settings = make_settings(dns={"server": "127.0.53.1:5353", "resolver": ("192.0.2.53",)})
    assert worker._start_servers(settings) == ([("127.0.53.1", 5353)], 5353)
    settings = make_settings(dns={"server": "127.0.53.1"})
    assert worker._start_servers(settings) == ([("127.0.53.1", 53)], 53)


def test_resolver_when_the_server_is_an_api_url():
    settings = make_settings(dns={"server": "https://dns.example.net/api", "resolver": ("192.0.2.53:5300", "::1")})
    assert worker._start_servers(settings) == ([("192.0.2.53", 5300), ("::1", 53)], 53)


def test_resolv_conf_last(monkeypatch):
    from secumail.certs import propagation

    monkeypatch.setattr(propagation, "resolv_conf_servers", lambda: [("127.0.0.53", 53)])
    assert worker._start_servers(make_settings()) == ([("127.0.0.53", 53)], 53)
