"""mailctl import: the word `run`/`add` put in, one-line refusals before anything is contacted, list/del."""

from __future__ import annotations

import json

from secumail.cli.imports import default_command


def test_import_user_is_import_run_or_add():
    assert default_command(["import", "a@example.org", "--from", "imaps://a@h"]) == [
        "import", "run", "a@example.org", "--from", "imaps://a@h"]  # fmt: skip
    assert default_command(["--json", "--confdir", "/c", "import", "a@x.org", "--every", "1h"])[4] == "add"
    assert default_command(["import", "a@x.org", "--every=1h"])[1] == "add"
    for unchanged in (["import", "list"], ["import", "--help"], ["image", "import", "f"], ["import"], []):
        assert default_command(unchanged) == unchanged


def test_refusals_are_one_line_and_touch_nothing(cli, confdir, tmp_path):
    r = cli("import", "alice@example.org", "--from", "imaps://alice:pw@old.example", "--password-stdin", stdin="x\n")
    assert (r.code, r.err.count("\n")) == (2, 1) and "holds a password" in r.err, r.err
    r = cli("import", "alice@example.org", "--from", "imaps://alice@old.example", "--password-stdin", stdin="pw\n")
    assert r.code == 2 and r.err == "mailctl: no mailbox alice@example.org on this server " \
                                    "(mailctl user add alice@example.org)\n"  # fmt: skip
    r = cli("import", "alice@example.org", "--from", "imaps://alice@old.example", "--every", "10s",
            "--password-stdin", stdin="pw\n")  # fmt: skip
    assert r.code == 2 and r.err.count("\n") == 1 and ("out of range" in r.err or "no mailbox" in r.err), r.err
    r = cli("import", "del", "nothing_here")
    assert r.code == 2 and r.err == "mailctl: no import named 'nothing_here' (see 'mailctl import list')\n"
    assert not (tmp_path / "data" / "import").exists()
    assert "config import" not in (confdir / "mailserver").read_text()


def test_list_is_empty_then_shows_a_kept_one_off_import(cli, confdir, tmp_path):
    from secumail.config.layout import DataLayout
    from secumail.mail.imapimport import state

    r = cli("import", "list", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    kept = state.ImportState("alice@example.org", "imaps://alice@old.example:993")
    kept.last_run = {"finished": "2026-12-06T03:13:43+00:00", "ok": True, "copied": 3}
    state.write(DataLayout(str(tmp_path / "data")).import_state("alice_old"), kept)
    r = cli("import", "list")
    assert r.code == 0 and "alice_old" in r.out and "once" in r.out and "ok: 3 copied" in r.out, r.out
    kept.folders["Ärger"] = state.FolderState(7, last_uid=12, target="Ärger", refused=[3])
    state.write(DataLayout(str(tmp_path / "data")).import_state("alice_old"), kept)
    r = cli("import", "show", "alice_old")
    assert r.code == 0 and r.out.splitlines()[0] == "import alice_old: alice@example.org ← " \
        "imaps://alice@old.example:993 (every once)", r.out  # fmt: skip
    assert r.out.splitlines()[-1].split() == ["Ärger", "Ärger", "7", "12", "1"]
    r = cli("import", "del", "alice_old")
    assert r.code == 0 and r.out == "import alice_old deleted\n"
    assert json.loads(cli("import", "list", "--json").out) == []
