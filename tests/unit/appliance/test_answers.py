"""The answers file of `mailctl setup --answers`: parsed and checked before any step runs."""

from __future__ import annotations

import os

import pytest

from secumail.appliance import answers
from secumail.config.settings import Acme, Dns
from secumail.errors import InputError

GOOD = """
[identity]
domain = Example.TEST
hostname = mx

[dns]
provider = rfc2136
server = 10.0.0.53
zone = example.test
key_name = setup-key
key_secret = c2VjcmV0

[certificate]
type = acme
directory = https://ca.example.test/dir

[mailbox]
address = alice@example.test
password = Corr3ct horse battery
"""


def _parse(text: str) -> answers.Answers:
    return answers.parse(text, dns_options=tuple(Dns.options()), ssl_options=("type", *Acme.options()), source="a.ini")


def test_a_complete_file_splits_options_from_credentials():
    got = _parse(GOOD)
    assert (got.domain, got.hostname, got.provider) == ("example.test", "mx", "rfc2136")
    assert got.dns_options == {"server": "10.0.0.53", "zone": "example.test"}
    assert got.credentials == {"key_name": "setup-key", "key_secret": "c2VjcmV0"}
    assert got.ssl_options == {"type": "acme", "directory": "https://ca.example.test/dir"}
    assert (got.address, got.password, got.quota) == ("alice@example.test", "Corr3ct horse battery", None)
    assert "Corr3ct" not in repr(got)


@pytest.mark.parametrize(("change", "message"), [
    (("domain = Example.TEST", ""), "a.ini: [identity] domain is missing"),
    (("[certificate]", "[certificat]"), "a.ini: unknown section [certificat]"),
    (("type = acme", "kind = acme"), "a.ini: [certificate] unknown key kind"),
    (("alice@example.test", "alice@other.test"), "a.ini: [mailbox] address alice@other.test is not in the domain"),
    (("password = Corr3ct horse battery", ""), "a.ini: [mailbox] password is missing"),
    (("hostname = mx", "hostname = -mx"), "a.ini: [identity] hostname '-mx' is not a host name"),
    (("[dns]", "[dns\n"), "a.ini: not valid INI"),
])  # fmt: skip
def test_a_bad_answer_is_one_line_naming_it(change, message):
    with pytest.raises(InputError) as caught:
        _parse(GOOD.replace(*change))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_file_others_may_read_is_refused(tmp_path):
    path = tmp_path / "answers.ini"
    path.write_text(GOOD)
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match=r"readable by others and holds secrets: chmod 600"):
        answers.read(str(path))
    os.chmod(path, 0o600)
    assert answers.read(str(path)) == GOOD


def test_credentials_line_round_trip():
    line = answers.credentials_line({"key_name": "k", "key_secret": "c2Vj=="})
    assert answers.parse_credentials_line(line) == {"key_name": "k", "key_secret": "c2Vj=="}
    with pytest.raises(InputError, match="one word without spaces"):
        answers.credentials_line({"token": "two words"})
