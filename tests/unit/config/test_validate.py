"""Option parsers: each accepts what a user would write and names the problem otherwise."""

import pytest

from secumail.config import validate as v


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("example.com", "example.com"), ("Example.COM.", "example.com"), ("bücher.de", "xn--bcher-kva.de"),
     ("a-b.example.org", "a-b.example.org")],
)  # fmt: skip
def test_domain_name_accepts_and_normalises(raw, expected):
    assert v.domain_name(raw) == expected


@pytest.mark.parametrize(
    "raw", ["exa mple.com", "", "localhost", "-bad.com", "bad-.com", "a..b", "x" * 64 + ".com", "1.2.3.4",
            ("a.com", "b.com"), "a_b.com", ("x" * 60 + ".") * 5 + "com"],
)  # fmt: skip
def test_domain_name_refuses(raw):
    with pytest.raises(ValueError):
        v.domain_name(raw)


@pytest.mark.parametrize("raw", ["1", "yes", "on", "true", "enabled", "TRUE"])
def test_boolean_true_words(raw):
    assert v.boolean(raw) is True


@pytest.mark.parametrize("raw", ["0", "no", "off", "false", "disabled"])
def test_boolean_false_words(raw):
    assert v.boolean(raw) is False


def test_boolean_refuses_other_words():
    with pytest.raises(ValueError, match="not a boolean"):
        v.boolean("maybe")


@pytest.mark.parametrize(("raw", "ok"), [("25", True), ("65535", True), ("0", False), ("65536", False),
                                         ("-1", False), ("x", False), ("", False)])  # fmt: skip
def test_port_range(raw, ok):
    if ok:
        assert v.port(raw) == int(raw)
    else:
        with pytest.raises(ValueError, match="1-65535"):
            v.port(raw)


def test_optional_port_zero_or_empty_means_off():
    assert v.optional_port("0") == 0
    assert v.optional_port("") == 0
    assert v.optional_port("995") == 995


@pytest.mark.parametrize("raw", ["relative/path", "/srv/../etc", "", "srv"])
def test_absolute_path_refuses(raw):
    with pytest.raises(ValueError):
        v.absolute_path(raw)


def test_absolute_path_strips_trailing_slash():
    assert v.absolute_path("/srv/mailserver/") == "/srv/mailserver"


def test_integer_range_message():
    with pytest.raises(ValueError, match=r"out of range \(60-"):
        v.integer(60, 100)("59")


def test_email_and_local_part():
    assert v.email_address("Post.Master@Example.com") == "Post.Master@example.com"
    for bad in ["nobody", "a@b", "a b@example.com", "@example.com", ".a@example.com"]:
        with pytest.raises(ValueError):
            v.email_address(bad)


def test_ipv4_interface_needs_prefix():
    assert str(v.ipv4_interface("10.0.0.2/24")) == "10.0.0.2/24"
    with pytest.raises(ValueError, match="prefix"):
        v.ipv4_interface("10.0.0.2")
    with pytest.raises(ValueError):
        v.ipv4_interface("10.0.0.300/24")


def test_list_of_accepts_lists_and_words():
    parse = v.list_of(v.domain_name)
    assert parse(("a.com", "b.org")) == ("a.com", "b.org")
    assert parse("a.com b.org") == ("a.com", "b.org")
    assert parse("") == ()


def test_choice_names_the_choices():
    with pytest.raises(ValueError, match="one of: a, b"):
        v.choice("a", "b")("c")


def test_cgroup_path_is_below_the_root():
    assert v.cgroup_path("secumail") == "secumail"
    assert v.cgroup_path(" router/secumail ") == "router/secumail"
    for bad in ("/secumail", "a/../b", "a//b", "a b", "secumail/"):
        with pytest.raises(ValueError, match="cgroup path"):
            v.cgroup_path(bad)
