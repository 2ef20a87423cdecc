"""The import's state file (docs/import.md): written 0600, read back, and refused when it is not ours."""

from __future__ import annotations

import json
import os
import stat

import pytest

from secumail.config.layout import DataLayout
from secumail.config.validate import parse_imap_url
from secumail.errors import InputError, SecumailError
from secumail.mail.imapimport import engine, secrets, state
from secumail.mail.imapimport.progress import Progress


def test_state_round_trip_is_0600_and_keeps_unicode_names(tmp_path):
    path = str(tmp_path / "import" / "alice_old.json")
    kept = state.ImportState("alice@example.org", "imaps://alice@old.example:993")
    kept.folders["Ärger"] = state.FolderState(7, last_uid=12, target="Ärger", in_flight=20, refused=[9, 3])
    kept.last_run = {"finished": "2026-12-06T03:13:43+00:00", "ok": True}
    state.write(path, kept)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, encoding="utf-8") as handle:
        assert "Ärger" in handle.read()
    again = state.read(path)
    assert again.to_json() == kept.to_json()
    assert again.folders["Ärger"].to_json() == {
        "uidvalidity": 7,
        "last_uid": 12,
        "target": "Ärger",
        "in_flight": 20,
        "refused": [3, 9],
    }
    assert state.last_finished(path) == 1796526823.0


def test_other_versions_and_garbage_are_refused_not_guessed(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"version": 2, "user": "a", "source": "b"}))
    with pytest.raises(SecumailError, match="has version 2, this agent reads 1"):
        state.read(str(path))
    path.write_text("{")
    with pytest.raises(SecumailError, match="unreadable"):
        state.read(str(path))
    assert state.read(str(tmp_path / "none.json")) is None
    assert state.last_finished(str(path)) is None


def test_a_name_keeps_to_its_user_and_server(tmp_path):
    layout = DataLayout(str(tmp_path))
    job = engine.Job("alice_old", "alice@example.org", parse_imap_url("imaps://alice@old.example"), "pw")
    state.write(layout.import_state("alice_old"), state.ImportState("bob@example.org", str(job.source)))
    with pytest.raises(InputError, match="import alice_old copies imaps://alice@old.example:993 into bob@"):
        engine.load_state(layout, job)
    assert "pw" not in repr(job)
    assert engine.default_name("alice@example.org", "old.example") == "alice_old_example"


def test_password_file_is_0600_in_a_0700_directory_and_forgotten_with_the_state(tmp_path):
    layout = DataLayout(str(tmp_path))
    secrets.write_password(layout, "j", " spaced pw ")
    assert secrets.read_password(layout, "j") == " spaced pw "
    assert stat.S_IMODE(os.stat(layout.import_password("j")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(layout.imports).st_mode) == 0o700
    state.write(layout.import_state("j"), state.ImportState("a@example.org", "imaps://a@h:993"))
    assert sorted(os.path.basename(p) for p in secrets.forget(layout, "j")) == ["j.json", "j.password"]
    with pytest.raises(SecumailError, match="no password stored"):
        secrets.read_password(layout, "j")
    with pytest.raises(InputError):
        secrets.write_password(layout, "j", "two\nlines")


def test_progress_lines_say_messages_bytes_rate_and_eta():
    now = [0.0]
    lines = []
    meter = Progress(lambda line, percent: lines.append((line, percent)), messages=4, size=4 * 2**20,
                     clock=lambda: now[0])  # fmt: skip
    meter.advance("INBOX", 2**20)  # the first line at once
    now[0] = 0.5
    meter.advance("INBOX", 2**20)  # within a second of the last: not shown
    now[0] = 2.0
    meter.advance("Sent", 2**20)
    assert lines == [
        ("INBOX: 1/4 messages, 1.0/4.0 MiB", 25),
        ("Sent: 3/4 messages, 3.0/4.0 MiB, 1.5 MiB/s, ETA 1 s", 75),
    ]
