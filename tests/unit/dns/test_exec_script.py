"""dns.script runs as root with the provider's secrets: only root (or the user running us) may change it."""

from __future__ import annotations

import os

import pytest

from secumail.dns.providers.base import get_provider
from secumail.errors import InputError
from tests.support.settings import make_settings

SCRIPT = "#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\nexit 3\n"


def provider(tmp_path, script):
    s = make_settings(tmp_path, dns={"provider": "exec", "script": str(script), "zone": "example.com",
                                     "credentials": ""})  # fmt: skip
    return get_provider(s.dns)


@pytest.fixture
def bindir(tmp_path):
    d = tmp_path / "bin"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    script = d / "dnsctl"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    return d


def test_a_safe_script_runs(tmp_path, bindir):
    p = provider(tmp_path, bindir / "dnsctl")
    assert p.script == os.path.realpath(bindir / "dnsctl")
    p._run("list", "x.example.com")
    assert (bindir / "ran").exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: (d / "dnsctl").chmod(0o775), "is writable by group or others (mode 0775): chmod go-w"),
        (lambda d: (d / "dnsctl").chmod(0o757), "is writable by group or others (mode 0757)"),
        (lambda d: d.chmod(0o777), "bin is writable by group or others (mode 0777)"),
        (lambda d: (d / "dnsctl").chmod(0o644), "is not an executable file"),
        (lambda d: (d / "dnsctl").unlink(), "is missing"),
    ],
)
def test_an_unsafe_script_is_refused_before_it_runs(tmp_path, bindir, change, problem):
    change(bindir)
    with pytest.raises(InputError) as exc:
        provider(tmp_path, bindir / "dnsctl")
    assert str(exc.value).startswith("exec DNS provider: mailserver.dns.script ")
    assert problem in str(exc.value)
    assert not (bindir / "ran").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_script_or_directory_owned_by_someone_else_is_refused(tmp_path, bindir):
    os.chown(bindir / "dnsctl", 4242, 4242)
    with pytest.raises(InputError, match=r"is owned by uid 4242, not root: chown root"):
        provider(tmp_path, bindir / "dnsctl")
    os.chown(bindir / "dnsctl", 0, 0)
    os.chown(bindir, 4242, 4242)
    with pytest.raises(InputError, match=r"directory .*/bin is owned by uid 4242, not root"):
        provider(tmp_path, bindir / "dnsctl")


def test_a_symlink_is_judged_by_where_it_points(tmp_path, bindir):
    unsafe = tmp_path / "drop"
    unsafe.mkdir()
    unsafe.chmod(0o777)
    (unsafe / "dnsctl").write_text(SCRIPT)
    (unsafe / "dnsctl").chmod(0o755)
    (bindir / "link").symlink_to(unsafe / "dnsctl")
    with pytest.raises(InputError, match=r"directory .*/drop is writable by group or others"):
        provider(tmp_path, bindir / "link")


def test_a_sticky_world_writable_directory_is_accepted(tmp_path, bindir):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "dnsctl").write_text(SCRIPT)
    (shared / "dnsctl").chmod(0o755)
    assert provider(tmp_path, shared / "dnsctl").script.endswith("/shared/dnsctl")
