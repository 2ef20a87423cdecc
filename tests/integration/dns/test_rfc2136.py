"""rfc2136 against a real Knot with a TSIG key: setup, check, idempotence, errors."""

from __future__ import annotations

import pytest

from secumail.dns.check import check
from secumail.dns.providers.base import get_provider
from secumail.dns.setup import setup
from secumail.errors import ProviderError
from tests.integration.dns.servers import resolve

pytestmark = pytest.mark.integration


def test_setup_creates_everything_check_is_ok_and_second_run_is_a_no_op(rfc2136_settings):
    s = rfc2136_settings()
    first = setup(s)
    assert first["conflicts"] == [] and first["requests"] == 1
    assert len(first["changes"]) >= 14
    assert resolve("example.test", "MX") == ["10 mail.example.test."]
    assert resolve("mail.example.test", "A") == ["192.0.2.10"]
    assert resolve("example.test", "TXT") == ['"google-site-verification=keep-me"', '"v=spf1 mx ~all"']
    dkim = resolve("mail._domainkey.example.test", "TXT")[0]
    assert dkim.startswith('"v=DKIM1; k=rsa; p=') and '" "' in dkim  # 2048-bit key: split strings
    assert resolve("_imaps._tcp.example.test", "SRV") == ["0 1 993 mail.example.test."]
    report = check(s)
    assert report["ok"], [r for r in report["records"] + report["checks"] if r["status"] not in ("ok", "skipped")]
    second = setup(s)
    assert second["changes"] == [] and second["requests"] == 0


def test_wrong_tsig_key_is_one_clear_error_and_changes_nothing(rfc2136_settings, tmp_path):
    s = rfc2136_settings()
    bad = tmp_path / "bad.secret"
    bad.write_text("key_name=secumail-test\nkey_secret=" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n")
    bad.chmod(0o600)
    import dataclasses

    s = dataclasses.replace(s, dns=dataclasses.replace(s.dns, credentials=str(bad)))
    with pytest.raises(ProviderError, match=r"BADSIG.*nothing was changed"):
        setup(s)
    assert resolve("example.test", "MX") == []


def test_acme_txt_add_and_delete_tolerates_already_deleted(rfc2136_settings):
    s = rfc2136_settings(dns={"zone": "example.test"})
    provider = get_provider(s.dns)
    provider.add_txt("_acme-challenge.mail.example.test", "token-1", 60)
    provider.add_txt("_acme-challenge.mail.example.test", "token-2", 60)
    assert resolve("_acme-challenge.mail.example.test", "TXT") == ['"token-1"', '"token-2"']
    provider.del_txt("_acme-challenge.mail.example.test", "token-1")
    provider.del_txt("_acme-challenge.mail.example.test", "token-1")
    assert resolve("_acme-challenge.mail.example.test", "TXT") == ['"token-2"']
    provider.del_txt("_acme-challenge.mail.example.test", "token-2")
    assert resolve("_acme-challenge.mail.example.test", "TXT") == []
