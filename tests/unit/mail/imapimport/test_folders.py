"""Which folders of the old server are copied and where they land here (docs/import.md, "Folder names")."""

from __future__ import annotations

from secumail.mail.imapimport import folders
from secumail.mail.imapimport.folders import Folder

OURS = {"\\sent": "Sent", "\\drafts": "Drafts", "\\trash": "Trash", "\\junk": "Junk"}


def folder(name: str, *attributes: str, delimiter: str = "/") -> Folder:
    from secumail.mail.imapimport import mutf7

    return Folder(name, mutf7.encode(name), delimiter, frozenset(a.lower() for a in attributes))


def gmail() -> list[Folder]:
    return [
        folder("INBOX"),
        folder("[Gmail]", "\\Noselect"),
        folder("[Gmail]/All Mail", "\\All"),
        folder("[Gmail]/Sent Mail", "\\Sent"),
        folder("[Gmail]/Starred", "\\Flagged"),
        folder("[Gmail]/Important", "\\Important"),
        folder("[Gmail]/Bin", "\\Trash"),
        folder("[Gmail]/Spam", "\\Junk"),
        folder("[Gmail]/Drafts", "\\Drafts"),
        folder("Receipts/2024"),
    ]


def test_gmail_views_are_left_out_and_special_folders_land_in_ours():
    chosen = folders.choose(gmail())
    assert [(f.name, folders.target(f, ours=OURS)) for f in chosen] == [
        ("INBOX", "INBOX"),
        ("[Gmail]/Sent Mail", "Sent"),
        ("[Gmail]/Bin", "Trash"),
        ("[Gmail]/Spam", "Junk"),
        ("[Gmail]/Drafts", "Drafts"),
        ("Receipts/2024", "Receipts/2024"),
    ]


def test_include_names_a_view_explicitly_and_exclude_wins():
    chosen = folders.choose(gmail(), include=["[Gmail]/All Mail", "Receipts*", "inbox"], exclude=["Receipts/2024"])
    assert [f.name for f in chosen] == ["INBOX", "[Gmail]/All Mail"]


def test_courier_prefix_and_dot_delimiter_become_ours():
    listed = [
        folder("INBOX", delimiter="."),
        folder("INBOX.Sent Items", delimiter="."),
        folder("INBOX.Work.2024", delimiter="."),
        folder("INBOX.a/b", delimiter="."),
    ]
    got = [folders.target(f, prefix="INBOX.", ours=OURS) for f in listed]
    assert got == ["INBOX", "Sent", "Work/2024", "a_b"]


def test_names_without_attributes_are_mapped_by_well_known_names_at_top_level_only():
    assert folders.target(folder("Deleted Items"), ours=OURS) == "Trash"
    assert folders.target(folder("[Google Mail]/Sent Mail"), ours=OURS) == "Sent"
    assert folders.target(folder("Projects/Sent"), ours=OURS) == "Projects/Sent"
    assert folders.target(folder("Archive")) == "Archive"  # we have no \Archive folder: its usual name


def test_non_ascii_and_dots_in_names():
    assert folders.target(folder("Ärger/Über 2.0")) == "Ärger/Über 2_0"
    assert folders.target(folder("INBOX/Child")) == "INBOX/Child"
    assert folders.target(folder("100% *wild*/..")) == "100_ _wild_/__"


def test_our_uses_and_the_namespace_prefix():
    assert folders.our_uses([folder("Sent", "\\Sent"), folder("Other Sent", "\\Sent"), folder("Junk", "\\Junk")]) \
        == {"\\sent": "Sent", "\\junk": "Junk"}  # fmt: skip
    assert folders.personal_prefix([b'(("INBOX." ".")) NIL NIL']) == "INBOX."
    assert folders.personal_prefix([b'(("" "/")) NIL (("#shared/" "/"))']) == ""
    assert folders.personal_prefix([b"NIL NIL NIL"]) == ""
