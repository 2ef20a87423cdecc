"""Credentials files and the provider registry."""

import pytest

from secumail.dns.providers.base import available, get_provider, provider_class, read_credentials
from secumail.errors import InputError
from tests.support.settings import make_settings


def secret(tmp_path, text, mode=0o600):
    path = tmp_path / "dns.secret"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_key_value_and_ini_forms(tmp_path):
    assert read_credentials(secret(tmp_path, "# c\nexport KEY_NAME='k1'\nkey_secret=abc=\n"), "rfc2136") == {
        "key_name": "k1",
        "key_secret": "abc=",
    }
    ini = secret(tmp_path, "[cloudflare]\napi_token = t1\n[other]\nx=1\n")
    assert read_credentials(ini, "cloudflare") == {"api_token": "t1"}


def test_world_readable_file_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"readable by others \(mode 0644\): chmod 600"):
        read_credentials(secret(tmp_path, "a=b\n", 0o644), "x")


def test_all_missing_keys_are_reported_at_once(tmp_path):
    s = make_settings(dns={"provider": "rfc2136", "credentials": secret(tmp_path, "unrelated=1\n")})
    with pytest.raises(InputError, match=r"lacks, for provider rfc2136: key_name \(TSIG key name\), key_secret"):
        get_provider(s.dns)


def test_missing_file_is_one_line(tmp_path):
    s = make_settings(dns={"provider": "cloudflare", "credentials": str(tmp_path / "none")})
    with pytest.raises(InputError, match="does not exist: create it"):
        get_provider(s.dns)


def test_registry_knows_builtins_without_metadata_and_refuses_unknown():
    assert {"rfc2136", "powerdns", "cloudflare", "desec", "hetzner", "gandi", "digitalocean", "exec", "manual"} <= set(
        available()
    )
    assert provider_class("manual").name == "manual"
    with pytest.raises(InputError, match="unknown DNS provider 'nope'"):
        provider_class("nope")


def test_value_changes_touch_only_what_differs_and_a_ttl_change_recreates_all():
    from secumail.dns.providers.base import Change, value_changes
    from secumail.dns.records import RRset

    old = RRset.make("example.com", "TXT", 300, ['"a"', '"b"'])
    assert value_changes(Change("update", old, RRset.make("example.com", "TXT", 300, ['"b"', '"c"']))) == (
        ['"a"'],
        ['"c"'],
    )
    longer = RRset.make("example.com", "TXT", 3600, ['"b"'])
    assert value_changes(Change("update", old, longer)) == (['"a"', '"b"'], ['"b"'])
    assert value_changes(Change("delete", old, None)) == (['"a"', '"b"'], [])
    assert Change("delete", old, None).ttl == 300 and Change("update", old, longer).ttl == 3600


def test_a_provider_that_implements_no_write_method_says_so():
    from secumail.dns.providers.base import Change, DnsProvider
    from secumail.dns.records import RRset

    class Half(DnsProvider):
        name = "half"

    with pytest.raises(NotImplementedError, match="half implements neither apply"):
        Half(None, {}).apply("example.com", [Change("create", None, RRset.make("example.com", "MX", 60, ["1 a."]))])
