"""Malformed config files: libuci's error, line and byte; nothing gets written."""

from __future__ import annotations

from pathlib import Path

import pytest

from secumail.uci import Uci, UciException
from secumail.uci.parser import parse_bytes
from tests.unit.uci.ucidata import run_cli

CASES = [
    # (file bytes, reason, line, byte)
    (b"config settings 'main'\n\toption x 'abc\n\toption y 'def'\n",
     "EOF with unterminated '", 3, 31),
    (b"config settings 'main'\n\toption x \"abc\n", 'EOF with unterminated "', 2, 15),
    (b"option x 'y'\nconfig settings 'main'\n", "option/list command found before the first section", 1, 0),
    (b"config settings 'main'\n\n\tvalue x 'y'\n", "invalid command", 3, 1),
    (b"config settings 'main'\n\toption x one\\\n\ttwo\n", "too many arguments", 3, 19),
    (b"config settings 'main'\n\toption port 25 extra\n", "too many arguments", 2, 22),
    (b"config a 'main'\n\noption x 1\nconfig b 'main'\n",
     "section of different type overwrites prior section with same name", 4, 16),
    (b"config settings 'bad-name'\n", "invalid character in name field", 1, 27),
    (b"config 'bad type'\n", "invalid character in type field", 1, 18),
    (b"config settings 'main'\n\toption 'bad.name' x\n", "invalid character in name field", 2, 19),
    (b"config settings 'main'\n\toption\n", "invalid command", 2, 1),
    (b"config settings 'main'\n\toption\t\n", "insufficient arguments", 2, 9),
    (b"package\n", "invalid command", 1, 0),
]


@pytest.mark.parametrize(("data", "reason", "line", "byte"), CASES)
def test_parse_error_position(data: bytes, reason: str, line: int, byte: int) -> None:
    with pytest.raises(UciException) as info:
        parse_bytes(data, "test", path="/etc/config/test")
    exc = info.value
    assert (exc.reason, exc.line, exc.byte) == (reason, line, byte)
    assert str(exc) == f"/etc/config/test: Parse error ({reason}) at line {line}, byte {byte}"


@pytest.mark.parametrize(("data", "reason", "line", "byte"), CASES[:6])
def test_nothing_written_on_parse_error(
    tmp_path: Path, data: bytes, reason: str, line: int, byte: int
) -> None:
    confdir, savedir = tmp_path / "config", tmp_path / "save"
    confdir.mkdir()
    (confdir / "test").write_bytes(data)
    u = Uci(confdir=str(confdir), savedir=str(savedir))
    for call in (lambda: u.get("test"), lambda: u.set("test", "main", "x", "1"), lambda: u.commit("test")):
        with pytest.raises(UciException) as info:
            call()
        assert info.value.line == line
    rc, out, err = run_cli("-c", str(confdir), "-P", str(savedir), "set", "test.main.x=1")
    assert (rc, out) == (1, b"")
    assert err == f"uci: Parse error ({reason}) at line {line}, byte {byte}\n".encode()
    rc, _out, err = run_cli("-c", str(confdir), "-t", str(savedir), "commit", "test")
    assert rc == 1
    assert (confdir / "test").read_bytes() == data
    assert sorted(p.name for p in confdir.iterdir()) == ["test"]
    assert not savedir.exists()


def test_non_strict_skips_bad_lines(tmp_path: Path) -> None:
    confdir = tmp_path / "config"
    confdir.mkdir()
    (confdir / "test").write_bytes(b"config settings 'main'\n\tbogus line\n\toption x '1'\n")
    rc, out, err = run_cli("-c", str(confdir), "-P", str(tmp_path / "s"), "-S", "show", "test")
    assert rc == 0
    assert out == b"test.main=settings\ntest.main.x='1'\n"
    assert err == b"Parse error (invalid command) at line 2, byte 1\n"
