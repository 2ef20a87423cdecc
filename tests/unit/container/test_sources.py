"""Reading the host's apt sources: the image mirror is never hard-coded."""

from __future__ import annotations

from secumail.container.provision import debian
from secumail.container.provision.debian import AptSource


def write(root, name: str, text: str) -> None:
    d = root / "sources.list.d"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)


DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""


def test_deb822(tmp_path) -> None:
    write(tmp_path, "debian.sources", DEB822)
    srcs = debian.host_apt_sources(str(tmp_path))
    assert AptSource("http://mirror.example/debian", "bookworm", ("main",)) in srcs
    assert AptSource("http://mirror.example/debian", "bookworm-updates", ("main",)) in srcs
    assert AptSource("http://security.example/debian-security", "bookworm-security", ("main", "contrib")) in srcs
    assert not any("src.example" in s.uri or "disabled" in s.uri for s in srcs)
    assert debian.mirror_for("bookworm", srcs) == "http://mirror.example/debian"


def test_one_line_format_with_options_and_comments(tmp_path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://opt.example/debian bookworm main # c\n"
        "deb http://sec.example/debian-security bookworm-security main\n"
    )
    srcs = debian.host_apt_sources(str(tmp_path))
    assert srcs == [
        AptSource("http://opt.example/debian", "bookworm", ("main",)),
        AptSource("http://sec.example/debian-security", "bookworm-security", ("main",)),
    ]


def test_disabled_files_and_other_suites_ignored(tmp_path) -> None:
    write(tmp_path, "google.list.disabled-by-farm", "deb https://packages.example/apt cloud main\n")
    write(tmp_path, "node.sources", "Types: deb\nURIs: https://node.example\nSuites: nodistro\nComponents: main\n")
    srcs = debian.host_apt_sources(str(tmp_path))
    assert [s.uri for s in srcs] == ["https://node.example"]
    assert debian.mirror_for("bookworm", srcs) is None


def test_mirror_skips_security_and_updates(tmp_path) -> None:
    srcs = [
        AptSource("http://sec.example", "bookworm-security", ("main",)),
        AptSource("http://upd.example", "bookworm-updates", ("main",)),
        AptSource("http://nomain.example", "bookworm", ("contrib",)),
        AptSource("http://main.example", "bookworm", ("main", "contrib")),
    ]
    assert debian.mirror_for("bookworm", srcs) == "http://main.example"
    chosen = debian.suite_sources("bookworm", srcs, "http://explicit.example")
    assert chosen == [
        AptSource("http://explicit.example", "bookworm", ("main",)),
        AptSource("http://upd.example", "bookworm-updates", ("main",)),
        AptSource("http://sec.example", "bookworm-security", ("main",)),
    ]


def test_this_hosts_sources_give_a_mirror() -> None:
    srcs = debian.host_apt_sources()
    if not any(s.suite == "bookworm" for s in srcs):
        import pytest

        pytest.skip("host is not bookworm")
    assert debian.mirror_for("bookworm", srcs)


def test_recipe_id_is_stable() -> None:
    assert debian.recipe_id() == debian.recipe_id()
    assert len(debian.recipe_id()) == 12
