"""mailctl user app-password: the token shown once, only hashes on disk, per-service files Dovecot reads."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from secumail.mail.passwords import verify_password
from tests.support.files import snapshot

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r"^    ([a-z2-9]{6}(?:-[a-z2-9]{4}){4})$", re.MULTILINE)


def _lines(path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def _entry(data, service: str, token: str) -> str | None:
    """The hash Dovecot would find for alice's `token` in app-passwords.<service> (key user/first 6 chars)."""
    for line in _lines(data / "config" / f"app-passwords.{service}"):
        key, _, stored = line.partition(":")
        if key == f"alice@example.org/{token[:6]}":
            return stored
    return None


@pytest.fixture
def world(cli):
    assert cli("user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n").code == 0
    assert cli("user", "add", "bob@example.org", "--password-stdin", stdin="pw-bob-secret\n").code == 0
    return cli


def _add(cli, *args) -> str:
    result = cli("user", "app-password", "add", *args)
    assert result.code == 0, result
    match = TOKEN.search(result.out)
    assert match, result.out
    return match.group(1)


def test_add_shows_a_token_once_and_keeps_only_its_hash(world, data):
    result = world("user", "app-password", "add", "alice@example.org", "phone")
    assert result.code == 0, result
    token = TOKEN.search(result.out).group(1)
    assert "shown only now" in result.out
    for path, (content, _) in snapshot(data).items():
        assert token.encode() not in content, path
    for service in ("imap", "pop3", "smtp"):
        stored = _entry(data, service, token)
        assert stored and stored.startswith("{BLF-CRYPT}$2y$10$"), service
        assert verify_password(token, stored)
    assert _entry(data, "dav", token) is None  # default scopes: imap, smtp
    listed = world("user", "app-password", "list", "alice@example.org")
    assert listed.code == 0
    assert "phone" in listed.out and "imap,smtp" in listed.out and token not in listed.out
    assert stat.S_IMODE(os.stat(data / "config" / "app-passwords").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data / "config" / "app-passwords.imap").st_mode) == 0o600


def test_scope_limits_the_services(world, data):
    token = _add(world, "alice@example.org", "reader", "--scope", "imap")
    assert _entry(data, "imap", token) and _entry(data, "pop3", token)
    assert _entry(data, "smtp", token) is None
    dav = _add(world, "alice@example.org", "calendar", "--scope", "dav")
    assert _entry(data, "dav", dav) and _entry(data, "imap", dav) is None
    # nothing opens ManageSieve (filters can forward mail): there is no file for that service
    assert not (data / "config" / "app-passwords.sieve").exists()


def test_revoking_one_keeps_the_others_and_the_account_password(world, data):
    phone = _add(world, "alice@example.org", "phone")
    laptop = _add(world, "alice@example.org", "laptop")
    users_before = (data / "config" / "users").read_text()
    result = world("user", "app-password", "del", "alice@example.org", "phone")
    assert result.code == 0, result
    assert result.out.strip() == "app password phone of alice@example.org revoked"
    assert _entry(data, "imap", phone) is None and _entry(data, "smtp", phone) is None
    assert verify_password(laptop, _entry(data, "imap", laptop))
    assert (data / "config" / "users").read_text() == users_before
    again = world("user", "app-password", "del", "alice@example.org", "phone")
    assert again.code == 2 and "no app password named 'phone'" in again.err and "Traceback" not in again.err


def test_deleting_the_mailbox_drops_its_app_passwords(world, data):
    token = _add(world, "alice@example.org", "phone")
    assert world("user", "del", "alice@example.org").code == 0
    assert _entry(data, "imap", token) is None
    assert "alice@" not in (data / "config" / "app-passwords").read_text()
    assert world("user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n").code == 0
    assert _entry(data, "imap", token) is None  # a new mailbox of the same name inherits nothing
    assert json.loads(world("--json", "user", "app-password", "list").out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody@example.org", "phone"), "mailbox nobody@example.org does not exist"),
        (("alice@example.org", "my phone"), "app password name 'my phone'"),
        (("alice@example.org", "phone", "--scope", "imap,sieve"), "scope 'imap,sieve'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(world, data, args, message):
    before = snapshot(data / "config")
    result = world("user", "app-password", "add", *args)
    assert result.code == 2, result
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert snapshot(data / "config") == before


def test_a_name_is_used_once_per_mailbox(world):
    _add(world, "alice@example.org", "phone")
    again = world("user", "app-password", "add", "alice@example.org", "phone")
    assert again.code == 2 and "named 'phone' already" in again.err
    _add(world, "bob@example.org", "phone")  # another mailbox may use the name


def test_json_add_returns_the_token_and_list_never_does(world):
    added = json.loads(
        world("--json", "user", "app-password", "add", "alice@example.org", "tb", "--scope", "smtp,imap").out
    )
    assert added["scopes"] == ["imap", "smtp"] and added["address"] == "alice@example.org"
    assert len(added["password"].encode()) < 72  # bcrypt uses all of it
    rows = json.loads(world("--json", "user", "app-password", "list").out)
    assert rows == [
        {"address": "alice@example.org", "name": "tb", "scopes": ["imap", "smtp"], "created": added["created"]}
    ]


def test_dovecot_checks_app_passwords_by_service(settings):
    from secumail.mail.layout import CONTAINER_DATA
    from secumail.mail.render import render_all

    conf = render_all(settings, ["example.org"])["dovecot/dovecot.conf"][0]
    assert f"username_format=%Lu/%6w {CONTAINER_DATA}/config/app-passwords.%s" in conf
