"""Bad input: one clear line, nothing half-applied, and a re-run converges."""

from __future__ import annotations

import socket

import pytest

from secumail.dns.setup import setup
from secumail.errors import InputError, ProviderError
from tests.integration.dns.servers import resolve

pytestmark = pytest.mark.integration


def test_name_outside_the_zone_changes_nothing(rfc2136_settings):
    s = rfc2136_settings(dns={"zone": "example.org.test"})
    with pytest.raises(InputError, match=r"^DNS name mail.example.test is outside the zone example.org.test"):
        setup(s)
    assert resolve("example.test", "MX") == []


def test_over_long_label_is_refused(rfc2136_settings):
    with pytest.raises(InputError, match="longer than 63 characters"):
        setup(rfc2136_settings(), "a" * 64 + ".example.test")


def test_provider_that_times_out_is_one_line_and_rerun_converges(rfc2136_settings):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.53.2", 0))
    port = silent.getsockname()[1]
    try:
        s = rfc2136_settings(dns={"server": f"127.0.53.2:{port}", "timeout": 1, "zone": "example.test"})
        with pytest.raises(ProviderError, match=r"did not answer within 1 s$"):
            setup(s)
    finally:
        silent.close()
    assert resolve("example.test", "MX") == []
    assert setup(rfc2136_settings())["conflicts"] == []
    assert resolve("example.test", "MX") == ["10 mail.example.test."]
