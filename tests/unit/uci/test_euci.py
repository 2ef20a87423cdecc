"""EUci behaves as turris-pyuci's euci.EUci (0.10): code written for it runs unchanged on ours."""

from __future__ import annotations

import ipaddress

import pytest

from secumail.uci import UciExceptionNotFound
from secumail.uci.euci import EUci, NoDefault

CONFIG = """
config settings 'main'
\toption port '25'
\toption enabled 'yes'
\toption addr '192.0.2.1'
\tlist peers '10.0.0.1'
\tlist peers '2001:db8::1'
\tlist ports '25'
\tlist ports '587'
\toption word 'maybe'
"""


@pytest.fixture
def euci(tmp_path):
    confdir, savedir = tmp_path / "etc", tmp_path / "save"
    confdir.mkdir()
    (confdir / "test").write_text(CONFIG)
    return EUci(confdir=str(confdir), savedir=str(savedir))


def test_default_is_returned_as_given_even_none(euci):
    assert euci.get("test", "main", "nosuch", dtype=int, default=None) is None
    assert euci.get("test", "nosuch", "port", dtype=int, default=None) is None
    assert euci.get("test", "main", "nosuch", dtype=int, default="7") == "7"  # not converted
    assert euci.get("test", "main", "nosuch", dtype=bool, default=False) is False
    with pytest.raises(UciExceptionNotFound):
        euci.get("test", "main", "nosuch", dtype=int)
    assert repr(NoDefault) == "NoDefault"


def test_dtype_is_any_callable(euci):
    assert euci.get("test", "main", "addr", dtype=ipaddress.ip_address) == ipaddress.IPv4Address("192.0.2.1")
    assert euci.get("test", "main", "peers", dtype=ipaddress.ip_address, list=True) == (
        ipaddress.IPv4Address("10.0.0.1"),
        ipaddress.IPv6Address("2001:db8::1"),
    )
    assert euci.get("test", "main", "port", dtype=float) == 25.0
    assert euci.get("test", "main", "port", dtype=lambda text: int(text, 8)) == 21
    assert euci.get("test", "main", "ports", dtype=int, list=True) == (25, 587)


def test_convert_runs_after_dtype(euci):
    assert euci.get("test", "main", "port", dtype=int, convert=lambda n: n * 2) == 50
    assert euci.get("test", "main", "ports", dtype=int, convert=str, list=True) == ("25", "587")


def test_a_value_that_does_not_convert_is_not_found_or_the_default(euci):
    with pytest.raises(UciExceptionNotFound):
        euci.get("test", "main", "word", dtype=bool)
    with pytest.raises(UciExceptionNotFound):
        euci.get("test", "main", "word", dtype=ipaddress.ip_address)
    assert euci.get("test", "main", "word", dtype=bool, default=None) is None
    assert euci.get("test", "main", "enabled", dtype=bool) is True


def test_list_false_is_one_value_list_true_a_tuple(euci):
    assert euci.get("test", "main", "ports") == "25"  # first item, as pyuci without list=True
    assert euci.get("test", "main", "ports", list=True) == ("25", "587")
    assert euci.get("test", "main", "port", dtype=int, list=True) == (25,)
    assert isinstance(euci.get("test"), dict)  # a whole config stays a dict
    assert euci.get("test.main.port", dtype=int) == 25


def test_unknown_keyword_is_a_type_error(euci):
    with pytest.raises(TypeError):
        euci.get("test", "main", "port", nonsense=1)


def test_add_named_and_anonymous(euci, tmp_path):
    assert euci.add("test", "peer", "router2") == "router2"
    anonymous = euci.add("test", "peer")
    euci.set("test", anonymous, "addr", ipaddress.ip_address("10.0.0.9"))
    euci.set("test", "router2", "enabled", True)
    euci.commit("test")
    text = (tmp_path / "etc" / "test").read_text()
    assert "config peer 'router2'\n\toption enabled '1'\n" in text
    assert "config peer\n\toption addr '10.0.0.9'\n" in text
    assert EUci(confdir=str(tmp_path / "etc")).get("test", "router2") == "peer"


def test_load_and_unload(euci):
    euci.load("test")
    euci.set("test", "main", "port", 2525)
    euci.unload("test")  # unsaved change forgotten
    assert euci.get("test", "main", "port", dtype=int) == 25
    with pytest.raises(UciExceptionNotFound):
        euci.load("nosuch")
