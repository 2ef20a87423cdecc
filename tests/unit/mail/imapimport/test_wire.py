"""IMAP syntax of the import: modified UTF-7 names, LIST and FETCH answers as imaplib hands them back."""

from __future__ import annotations

import pytest

from secumail.mail.imapimport import mutf7, wire


@pytest.mark.parametrize("name, spelled", [
    ("INBOX", "INBOX"),
    ("Ärger", "&AMQ-rger"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("日本語", "&ZeVnLIqe-"),
    ("Entwürfe/Ünter", "Entw&APw-rfe/&ANw-nter"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 5.1.3's example
])  # fmt: skip
def test_modified_utf7_both_ways(name, spelled):
    assert mutf7.encode(name) == spelled
    assert mutf7.decode(spelled) == name


def test_a_malformed_shift_is_kept_as_it_is():
    assert mutf7.decode("a&ZZZ") == "a&ZZZ"
    assert mutf7.decode("&AMQ") == "&AMQ"


def test_list_answers_with_quoted_atom_and_literal_names():
    data = [b'(\\HasNoChildren) "/" INBOX',
            b'(\\HasChildren \\Noselect) "/" "[Gmail]"',
            b'(\\HasNoChildren \\Sent) "/" "[Gmail]/Sent Mail"',
            (b'(\\HasNoChildren) "/" {16}', b'Work/"quoted" x'), b"",
            b'(\\HasNoChildren) NIL "Flat"']  # fmt: skip
    assert wire.list_entries(data) == [
        (frozenset({"\\hasnochildren"}), "/", "INBOX"),
        (frozenset({"\\haschildren", "\\noselect"}), "/", "[Gmail]"),
        (frozenset({"\\hasnochildren", "\\sent"}), "/", "[Gmail]/Sent Mail"),
        (frozenset({"\\hasnochildren"}), "/", 'Work/"quoted" x'),
        (frozenset({"\\hasnochildren"}), None, "Flat"),
    ]


def test_fetch_answers_with_literals_in_any_order():
    body = b"Subject: x\r\n\r\nhello (world) {3}\r\n"
    data = [(b'1 (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE "01-Feb-2020 10:11:12 +0100" BODY[] {%d}' % len(body),
             body), b")",
            (b"2 (BODY[] {3}", b"abc"), b' UID 9 FLAGS ())',
            b"3 (FLAGS (\\Deleted))",  # an unsolicited update: no UID, no body
            b"4 (UID 12 RFC822.SIZE 2048)"]  # fmt: skip
    items = wire.fetch_items(data)
    assert items[0] == {
        "UID": 7,
        "FLAGS": ["\\Seen", "$Forwarded"],
        "INTERNALDATE": "01-Feb-2020 10:11:12 +0100",
        "BODY[]": body,
    }
    assert items[1] == {"BODY[]": b"abc", "UID": 9, "FLAGS": []}
    assert items[2] == {"FLAGS": ["\\Deleted"]}
    assert items[3] == {"UID": 12, "RFC822.SIZE": 2048}


def test_header_fields_item_is_one_name():
    header = b"Message-ID: <a@b>\r\n\r\n"
    data = [(b"1 (UID 3 RFC822.SIZE 99 BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}" % len(header), header), b")"]
    (item,) = wire.fetch_items(data)
    assert wire.header_item(item) == header and item["RFC822.SIZE"] == 99


def test_internal_date_and_message_id():
    assert wire.internal_date("17-Jul-1996 02:44:25 -0700") == 837596665
    assert wire.internal_date(" 1-Jan-2020 00:00:00 +0000") == 1577836800
    with pytest.raises(ValueError):
        wire.internal_date("yesterday")
    folded = b"Subject: s\r\nMessage-Id:\r\n <x.y@z>\r\nTo: t\r\n\r\nbody Message-ID: <no@no>\r\n"
    assert wire.message_id(wire.header_block(folded)) == "<x.y@z>"
    assert wire.message_id(b"Subject: none\r\n\r\n") == ""
    assert wire.quote('a"b\\c') == '"a\\"b\\\\c"'
