"""powerdns against a real PowerDNS (sqlite3 backend, HTTP API on loopback)."""

from __future__ import annotations

import dataclasses

import pytest

from secumail.dns.check import check
from secumail.dns.setup import setup
from secumail.errors import ProviderError
from tests.integration.dns.servers import PDNS_ADDR, resolve

pytestmark = pytest.mark.integration


def test_setup_check_resolve_and_second_run(powerdns_settings):
    s = powerdns_settings()
    first = setup(s)
    assert first["conflicts"] == [] and first["requests"] == 1  # one PATCH for the zone
    assert resolve("example.test", "MX", PDNS_ADDR) == ["10 mail.example.test."]
    assert resolve("example.test", "TXT", PDNS_ADDR) == ['"google-site-verification=keep-me"', '"v=spf1 mx ~all"']
    assert resolve("_submissions._tcp.example.test", "SRV", PDNS_ADDR) == ["0 1 465 mail.example.test."]
    report = check(s)
    bad = [r for r in report["records"] + report["checks"] if r["status"] not in ("ok", "skipped", "warn")]
    assert report["ok"], bad
    assert setup(s)["changes"] == []


def test_wrong_api_key_is_one_clear_error(powerdns_settings, tmp_path):
    s = powerdns_settings()
    bad = tmp_path / "bad.secret"
    bad.write_text("api_key=wrong\n")
    bad.chmod(0o600)
    s = dataclasses.replace(s, dns=dataclasses.replace(s.dns, credentials=str(bad)))
    with pytest.raises(ProviderError, match=r"refused the credentials \(HTTP 401"):
        setup(s)
    assert resolve("example.test", "MX", PDNS_ADDR) == []
