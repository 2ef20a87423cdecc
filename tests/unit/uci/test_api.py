"""The pyuci-compatible Uci and EUci classes."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest

from secumail.uci import Uci, UciException, UciExceptionInvalidInput, UciExceptionNotFound
from secumail.uci.euci import EUci
from tests.unit.uci.ucidata import SAMPLE, run_cli


def make(dirs: tuple, cls: type = Uci) -> Uci:
    confdir, savedir = dirs
    return cls(confdir=str(confdir), savedir=str(savedir))


def test_exception_hierarchy() -> None:
    assert issubclass(UciExceptionNotFound, UciException)
    assert issubclass(UciExceptionInvalidInput, UciException)


def test_get_forms(dirs: tuple) -> None:
    u = make(dirs)
    assert u.get("test", "main") == "settings"
    assert u.get("test", "main", "domain") == "example.com"
    assert u.get("test", "main", "peer") == ("alpha", "beta")
    assert u.get("test.main.domain") == "example.com"
    assert u.get("test.main") == "settings"
    assert u.get("test", "@rule[0]", "name") == "first"
    assert u.get("test", "@rule[-1]", "name") == "second"
    assert u.get("test.@rule[1].target") == "DROP"
    assert u.get("test", "@[3]") == "zone"
    assert u.confdir() == str(dirs[0])
    assert u.savedir() == str(dirs[1])
    assert u.list_configs() == ["test"]


def test_get_all_shape(dirs: tuple) -> None:
    u = make(dirs)
    everything = u.get_all("test")
    assert list(everything) == ["main", "cfg0292bd", "cfg0392bd", "lan"]
    assert everything["cfg0392bd"] == {
        ".type": "rule", ".name": "cfg0392bd", ".anonymous": True, ".index": 2,
        "name": "second", "target": "DROP",
    }
    main = u.get_all("test", "main")
    assert main[".anonymous"] is False and main[".index"] == 0
    assert main["peer"] == ("alpha", "beta")
    assert u.get_all("test", "main", "domain") == "example.com"
    assert u.get("test") == everything


def test_not_found_and_invalid(dirs: tuple) -> None:
    u = make(dirs)
    for args in (("nosuch",), ("test", "nosuch"), ("test", "main", "nosuch"), ("test", "@rule[5]")):
        with pytest.raises(UciExceptionNotFound):
            u.get(*args)
    for args in (("te st",), ("test", "bad-name"), ("test", "main", "bad.opt"), ("test", "@rule[x]")):
        with pytest.raises(UciExceptionInvalidInput):
            u.get(*args)
    with pytest.raises(UciExceptionNotFound):
        u.set("test", "nosuch", "opt", "1")
    with pytest.raises(UciExceptionNotFound):
        u.delete("test", "main", "nosuch")
    with pytest.raises(UciExceptionInvalidInput):
        u.set("test", "main", "opt", "a\x01b")
    with pytest.raises(UciExceptionInvalidInput):
        u.set("test", "main", "opt", object())
    with pytest.raises(UciExceptionInvalidInput):
        u.add("test", "bad type")
    with pytest.raises(UciExceptionInvalidInput):
        u.rename("test", "main", "bad-name")
    with pytest.raises(UciException):
        u.set("test", "main")


def test_set_types_and_lists(dirs: tuple) -> None:
    u = make(dirs)
    u.set("test", "main", "flag", True)
    u.set("test", "main", "off", False)
    u.set("test", "main", "count", 42)
    u.set("test", "main", "items", ["x", "y"])
    u.set("test", "main", "peer", ("gamma",))
    u.set("test", "new", "settings")
    u.set("test", "new", "opt", "v")
    assert u.get("test", "main", "flag") == "1"
    assert u.get("test", "main", "off") == "0"
    assert u.get("test", "main", "count") == "42"
    assert u.get("test", "main", "items") == ("x", "y")
    assert u.get("test", "main", "peer") == ("gamma",)
    assert u.get("test", "new") == "settings"
    u.set("test", "main", "domain", "")  # an empty value deletes, as in libuci
    with pytest.raises(UciExceptionNotFound):
        u.get("test", "main", "domain")


def test_add_rename_reorder_delete(dirs: tuple) -> None:
    u = make(dirs)
    name = u.add("test", "rule")
    assert name == "cfg0592bd"
    u.set("test", name, "name", "third")
    assert u.get("test", "@rule[-1]", "name") == "third"
    u.rename("test", "lan", "wan")
    u.rename("test", "wan", "network", "net")
    assert u.get("test", "wan", "net") == "lan"
    u.reorder("test", "wan", 0)
    assert list(u.get("test"))[0] == "wan"
    u.delete("test", "@rule[0]")
    assert u.get("test", "@rule[0]", "name") == "second"
    u.delete("test.main.peer")
    with pytest.raises(UciExceptionNotFound):
        u.get("test", "main", "peer")


def test_changes_visible_after_save_to_fresh_uci_and_cli(dirs: tuple) -> None:
    confdir, savedir = dirs
    u = make(dirs)
    u.set("test", "main", "domain", "it's.example")
    u.add("test", "rule")
    assert not savedir.exists()  # pending until save/commit, as in pyuci
    assert make(dirs).get("test", "main", "domain") == "example.com"
    u.save("test")
    assert (savedir / "test").read_bytes() == (
        b"test.main.domain='it'\\''s.example'\n+test.cfg0592bd='rule'\n")
    assert make(dirs).get("test", "main", "domain") == "it's.example"
    rc, out, _ = run_cli("-c", str(confdir), "-P", str(savedir), "get", "test.main.domain")
    assert (rc, out) == (0, b"it's.example\n")
    rc, out, _ = run_cli("-c", str(confdir), "-P", str(savedir), "changes")
    assert out == b"test.main.domain='it'\\''s.example'\ntest.cfg0592bd='rule'\n"
    assert make(dirs).changes() == {"test": [("set", "main", "domain", "it's.example"),
                                             ("add", "cfg0592bd", None, "rule")]}
    assert (confdir / "test").read_bytes() == SAMPLE


def test_cli_changes_visible_to_api(dirs: tuple) -> None:
    confdir, savedir = dirs
    assert run_cli("-c", str(confdir), "-P", str(savedir), "set", "test.main.port=587")[0] == 0
    u = make(dirs)
    assert u.get("test", "main", "port") == "587"
    u.commit("test")
    assert b"option port '587'" in (confdir / "test").read_bytes()
    assert (savedir / "test").read_bytes() == b""


def test_commit_writes_what_libuci_writes(dirs: tuple, tmp_path: Path) -> None:
    """The same changes through the API and through the CLI give byte-identical files."""
    confdir, savedir = dirs
    other_conf, other_save = tmp_path / "c2", tmp_path / "s2"
    shutil.copytree(confdir, other_conf)
    u = make(dirs)
    u.set("test", "main", "motd", "line1\nline 'two'\\")
    u.set("test", "main", "peer", ["gamma", "del ta"])
    u.add("test", "rule")
    u.set("test", "@rule[-1]", "name", "new")
    u.delete("test", "@rule[0]")
    u.commit("test")
    ops = [
        ["set", "test.main.motd=line1\nline 'two'\\"],
        ["delete", "test.main.peer"],
        ["add_list", "test.main.peer=gamma"],
        ["add_list", "test.main.peer=del ta"],
        ["add", "test", "rule"],
        ["set", "test.@rule[-1].name=new"],
        ["delete", "test.@rule[0]"],
    ]
    for argv in ops:
        assert run_cli("-c", str(other_conf), "-P", str(other_save), *argv)[0] == 0
    assert run_cli("-c", str(other_conf), "-t", str(other_save), "commit", "test")[0] == 0
    assert (confdir / "test").read_bytes() == (other_conf / "test").read_bytes()
    assert (savedir / "test").read_bytes() == (other_save / "test").read_bytes() == b""


def test_context_manager_commits(dirs: tuple) -> None:
    confdir, _savedir = dirs
    with make(dirs) as u:
        u.set("test", "main", "port", "2525")
    assert b"option port '2525'" in (confdir / "test").read_bytes()
    with pytest.raises(UciException):
        u.get("test")
    # without commit/save/with, pending changes are dropped like pyuci does
    u2 = make(dirs)
    u2.set("test", "main", "port", "1")
    u2.close()
    assert make(dirs).get("test", "main", "port") == "2525"


def test_revert(dirs: tuple) -> None:
    u = make(dirs)
    u.set("test", "main", "port", "1")
    u.set("test", "lan", "network", "x")
    u.save("test")
    u.revert("test", "main", "port")
    assert u.get("test", "main", "port") == "25"
    assert u.get("test", "lan", "network") == "x"
    u.revert("test")
    assert make(dirs).get("test", "lan", "network") == "lan"
    assert make(dirs).changes() == {}


def test_parse_error_message(dirs: tuple) -> None:
    confdir, _ = dirs
    (confdir / "bad").write_bytes(b"config settings 'main'\n\toption x 'y'\n\toption port 25 extra\n")
    with pytest.raises(UciException) as info:
        make(dirs).get("bad")
    assert str(info.value) == f"{confdir}/bad: Parse error (too many arguments) at line 3, byte 22"
    assert info.value.line == 3 and info.value.byte == 22


def test_euci_typed_get(dirs: tuple) -> None:
    e = make(dirs, EUci)
    assert e.get("test", "main", "enabled", dtype=bool) is True
    assert e.get("test", "main", "port", dtype=int) == 25
    assert e.get("test", "lan", "addr", dtype=ipaddress.IPv4Address) == ipaddress.IPv4Address("192.0.2.1")
    assert e.get("test", "lan", "addr6", dtype=ipaddress.IPv6Address) == ipaddress.IPv6Address("2001:db8::1")
    assert e.get("test", "main", "nosuch", default=7, dtype=int) == 7
    assert e.get("test", "main", "nosuch", default=True, dtype=bool) is True
    assert e.get("test", "main", "peer", list=True) == ("alpha", "beta")
    assert e.get("test", "main", "peer", list=False) == "alpha"
    assert e.get("test", "main", "domain", list=True) == ("example.com",)
    assert e.get("test", "main", "nosuch", default=[1, 2], dtype=int) == [1, 2]  # a default is not converted
    with pytest.raises(UciExceptionNotFound):
        e.get("test", "main", "domain", dtype=bool)
    with pytest.raises(UciExceptionNotFound):
        e.get("test", "main", "domain", dtype=int)
    with pytest.raises(UciExceptionNotFound):
        e.get("test", "main", "nosuch", dtype=int)
    with pytest.raises(TypeError):
        e.get("test", "main", "port", nonsense=1)
    assert isinstance(e.get("test"), dict)


@pytest.mark.parametrize(("word", "value"), [
    ("1", True), ("yes", True), ("on", True), ("true", True), ("enabled", True), ("TRUE", True),
    ("0", False), ("no", False), ("off", False), ("false", False), ("disabled", False),
])
def test_euci_bool_words(dirs: tuple, word: str, value: bool) -> None:
    e = make(dirs, EUci)
    e.set("test", "main", "flag", word)
    assert e.get("test", "main", "flag", dtype=bool) is value


def test_euci_typed_set(dirs: tuple) -> None:
    e = make(dirs, EUci)
    e.set("test", "main", "on", True)
    e.set("test", "main", "off", False)
    e.set("test", "main", "num", 8080)
    e.set("test", "main", "flags", [True, False])
    e.set("test", "main", "ip", ipaddress.IPv4Address("10.0.0.1"))
    assert e.get("test", "main", "on") == "1"
    assert e.get("test", "main", "off") == "0"
    assert e.get("test", "main", "num", dtype=int) == 8080
    assert e.get("test", "main", "flags", list=True) == ("1", "0")
    assert e.get("test", "main", "flags", dtype=bool, list=True) == (True, False)
    assert e.get("test", "main", "ip") == "10.0.0.1"
