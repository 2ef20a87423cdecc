"""`config import` sections (sync jobs) and the values they hold: IMAP URLs, intervals, folder names."""

from __future__ import annotations

import pytest

from secumail.config import load_settings
from secumail.config import validate as v
from secumail.errors import ConfigError
from tests.unit.config.test_settings import write_config


def test_import_sections_are_read_in_order_with_their_defaults(tmp_path):
    write_config(
        tmp_path,
        """
config import 'alice_old'
	option user 'Alice@Example.org'
	option source 'imaps://alice@old.example'
	list folders 'Sent Items'
	list folders 'Work*'

config import 'bob_gmail'
	option user 'bob@example.org'
	option source 'imap://bob@gmail.com@imap.gmail.com:143'
	option interval '1h'
	option verify '0'
	option enabled '0'
""",
    )
    s = load_settings(str(tmp_path), str(tmp_path / "save"))
    alice, bob = s.imports
    assert (alice.name, alice.user, alice.source, alice.interval, alice.folders, alice.exclude, alice.verify,
            alice.enabled) == ("alice_old", "Alice@example.org", "imaps://alice@old.example:993", 900,
                               ("Sent Items", "Work*"), (), True, True)  # fmt: skip
    assert (bob.source, bob.interval, bob.verify, bob.enabled) == (
        "imap://bob@gmail.com@imap.gmail.com:143",
        3600,
        False,
        False,
    )


@pytest.mark.parametrize("text, message", [
    ("config import 'a'\n\toption source 'imaps://a@h'\n", "mailserver.a.user: '' is required"),
    ("config import 'a'\n\toption user 'a@example.org'\n", "mailserver.a.source: '' is required"),
    ("config import\n\toption user 'a@example.org'\n\toption source 'imaps://a@h'\n",
     "mailserver.@import[0]: '' an import section needs a name"),
    ("config import 'a'\n\toption user 'a@example.org'\n\toption source 'imaps://a:pw@h'\n",
     "mailserver.a.source: 'imaps://a:pw@h' holds a password"),
    ("config import 'a'\n\toption user 'a@example.org'\n\toption source 'https://h'\n",
     "mailserver.a.source: 'https://h' is not an IMAP URL"),
    ("config import 'a'\n\toption user 'a@example.org'\n\toption source 'imaps://a@h'\n\toption interval '30s'\n",
     "mailserver.a.interval: '30s' is out of range (1m-7d)"),
])  # fmt: skip
def test_bad_import_sections_are_refused_naming_the_option(tmp_path, text, message):
    write_config(tmp_path, "\n" + text)
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), str(tmp_path / "save"))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("raw, url", [
    ("imaps://alice@old.example", ("imaps", "alice", "old.example", 993)),
    ("IMAP://alice@old.example:1143/", ("imap", "alice", "old.example", 1143)),
    ("imaps://me@isp.example@imap.isp.example", ("imaps", "me@isp.example", "imap.isp.example", 993)),
    ("imaps://me%40isp.example@[2001:db8::1]:10993", ("imaps", "me@isp.example", "2001:db8::1", 10993)),
])  # fmt: skip
def test_imap_urls(raw, url):
    parsed = v.parse_imap_url(raw)
    assert tuple(parsed) == url
    assert v.parse_imap_url(str(parsed)) == parsed  # the normal form reads back the same


@pytest.mark.parametrize(
    "raw",
    ["imaps://old.example", "imaps://@old.example", "imaps://a@", "ftp://a@h", "imaps://a@h:99999", "imaps://a b@h"],
)
def test_bad_imap_urls(raw):
    with pytest.raises(ValueError):
        v.parse_imap_url(raw)


def test_durations_both_ways():
    parse = v.duration(60, 7 * 86400)
    assert [parse(t) for t in ("60", "15m", "1h", "2d", "90s")] == [60, 900, 3600, 172800, 90]
    assert [v.duration_text(n) for n in (60, 900, 3600, 172800, 90)] == ["1m", "15m", "1h", "2d", "90s"]
    for bad in ("", "15 min", "-1m", "8d"):
        with pytest.raises(ValueError):
            parse(bad)


def test_folder_patterns_keep_spaces():
    assert v.folder_patterns("Sent Items") == ("Sent Items",)
    assert v.folder_patterns(("INBOX", "Work/*")) == ("INBOX", "Work/*")
    assert v.folder_patterns("") == ()
