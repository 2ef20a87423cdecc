"""Property tests: file write → parse and delta encode → replay are lossless."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secumail.uci import delta, ops
from secumail.uci.context import UciContext
from secumail.uci.model import Package, to_str, validate_text
from secumail.uci.parser import parse_bytes
from secumail.uci.writer import export_bytes

NAME = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=8).filter(
    lambda n: not n.startswith("cfg"))
# Any bytes but NUL (libuci values are C strings); non-UTF-8 bytes become surrogate escapes.
VALUE = st.one_of(
    st.binary(max_size=20).filter(lambda b: b"\x00" not in b).map(to_str),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20),
    st.sampled_from(["'", "\\", "\n", "a'b", "'\\''", " x ", "\r\n", '"', "#", ";", "é"]),
)
# Delta records (like the CLI and the API) refuse control characters other than \t \n \r.
DELTA_VALUE = VALUE.filter(validate_text)
OPTION = st.tuples(NAME, st.one_of(VALUE, st.lists(VALUE, min_size=1, max_size=4)))
SECTION = st.tuples(st.one_of(st.none(), NAME), NAME,
                    st.lists(OPTION, max_size=5, unique_by=lambda o: o[0]))


def build(spec: list) -> Package:
    p = Package("test")
    for name, stype, options in spec:
        sec = ops.add_section(p, stype, record=False) if name is None else ops.alloc_section(p, stype, name)
        for oname, value in options:
            ptr = ops.Ptr(package="test", section=sec.name, option=oname, p=p, s=sec,
                          flags=ops.LOOKUP_DONE | ops.LOOKUP_COMPLETE)
            if isinstance(value, list):
                for item in value:
                    ptr.value = item
                    ops.add_list(None, ptr, record=False)  # type: ignore[arg-type]
            else:
                ptr.value = value
                ops.set_value(None, ptr, record=False)  # type: ignore[arg-type]
    return p


PACKAGE = st.lists(SECTION, max_size=6, unique_by=lambda s: s[0] if s[0] is not None else object()).map(build)


@given(PACKAGE)
@settings(max_examples=150, deadline=None)
def test_write_then_parse_is_identity(p: Package) -> None:
    data = export_bytes(p)
    assert parse_bytes(data, "test").as_data() == p.as_data()
    # and writing again gives the same bytes
    assert export_bytes(parse_bytes(data, "test")) == data


OP = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 9), NAME, DELTA_VALUE),
    st.tuples(st.just("add_list"), st.integers(0, 9), NAME, DELTA_VALUE),
    st.tuples(st.just("del_list"), st.integers(0, 9), NAME, DELTA_VALUE),
    st.tuples(st.just("delete_option"), st.integers(0, 9), NAME, st.none()),
    st.tuples(st.just("delete_section"), st.integers(0, 9), st.none(), st.none()),
    st.tuples(st.just("rename_option"), st.integers(0, 9), NAME, NAME),
    st.tuples(st.just("rename_section"), st.integers(0, 9), st.none(), NAME),
    st.tuples(st.just("reorder"), st.integers(0, 9), st.none(), st.integers(-2, 9)),
    st.tuples(st.just("add"), st.integers(0, 9), st.none(), NAME),
    st.tuples(st.just("set_type"), st.integers(0, 9), st.none(), NAME),
)


def apply(p: Package, op: tuple) -> None:
    kind, idx, a, b = op
    if kind == "add":
        ops.add_section(p, b)
        return
    if not p.sections:
        return
    sec = p.sections[idx % len(p.sections)]
    ptr = ops.Ptr(package=p.name, section=sec.name, p=p)
    if kind in ("set", "add_list", "del_list", "delete_option", "rename_option"):
        ptr.option = a
    ops.lookup_ptr(None, ptr)  # type: ignore[arg-type]
    if kind == "set":
        ptr.value = b
        ops.set_value(None, ptr)  # type: ignore[arg-type]
    elif kind == "add_list":
        ptr.value = b
        ops.add_list(None, ptr)  # type: ignore[arg-type]
    elif kind == "del_list":
        ptr.value = b
        ops.del_list(None, ptr)  # type: ignore[arg-type]
    elif (kind == "delete_option" and ptr.o is not None) or kind == "delete_section":
        ops.delete(None, ptr)  # type: ignore[arg-type]
    elif (kind == "rename_option" and ptr.o is not None and sec.option(b) is None) or (
        kind == "rename_section" and p.section(b) is None
    ):
        ptr.value = b
        ops.rename(None, ptr)  # type: ignore[arg-type]
    elif kind == "reorder":
        ops.reorder_section(p, sec, b)
    elif kind == "set_type":
        ptr.value = b
        ops.set_value(None, ptr)  # type: ignore[arg-type]


@given(PACKAGE, st.lists(OP, max_size=12))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_delta_encode_then_replay_reproduces_changes(base: Package, changes: list) -> None:
    data = export_bytes(base)
    edited = parse_bytes(data, "test")
    edited.has_delta = True
    for op in changes:
        apply(edited, op)
    encoded = delta.encode_deltas("test", edited.delta)

    replayed = parse_bytes(data, "test")
    applied = delta.replay(UciContext(), encoded, replayed)
    assert applied == len(edited.delta)
    assert replayed.as_data() == edited.as_data()
    assert [(d.cmd, d.section, d.option, d.value) for d in replayed.saved_delta] == [
        (d.cmd, d.section, d.option, d.value) for d in edited.delta]
    # the committed file of both is the same
    assert export_bytes(replayed) == export_bytes(edited)
