"""CLI behaviour beyond the golden cases: getopt, usage, revert, reorder, delta paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from secumail.uci.cli import USAGE
from tests.unit.uci.ucidata import run_cli

USAGE_BYTES = (USAGE % "uci").encode()


def base(dirs: tuple) -> list:
    confdir, savedir = dirs
    return ["-c", str(confdir), "-P", str(savedir)]


def test_usage_and_bad_options(dirs: tuple) -> None:
    assert run_cli() == (0, b"", USAGE_BYTES)
    assert run_cli("help") == (0, b"", USAGE_BYTES)
    assert run_cli("-z", "show") == (0, b"", b"uci: invalid option -- 'z'\n" + USAGE_BYTES)
    assert run_cli("show", "-c") == (0, b"", b"uci: option requires an argument -- 'c'\n" + USAGE_BYTES)
    assert run_cli(*base(dirs), "frobnicate") == (255, b"", USAGE_BYTES)
    assert run_cli(*base(dirs), "get", "a", "b") == (255, b"", USAGE_BYTES)


def test_getopt_permutes(dirs: tuple) -> None:
    rc, out, _ = run_cli("show", "-X", *base(dirs), "test.@rule[0]", "-q")
    assert rc == 0
    assert out.startswith(b"test.cfg0292bd=rule\n")
    assert run_cli("get", *base(dirs), "-d", ",", "test.main.peer") == (0, b"alpha,beta\n", b"")


def test_revert_and_reorder(dirs: tuple) -> None:
    confdir, savedir = dirs
    b = base(dirs)
    assert run_cli(*b, "set", "test.main.port=1")[0] == 0
    assert run_cli(*b, "set", "test.lan.network=wan")[0] == 0
    assert run_cli(*b, "reorder", "test.lan=0")[0] == 0
    assert run_cli(*b, "revert", "test.main")[0] == 0
    assert (savedir / "test").read_bytes() == b"test.lan.network='wan'\n^test.lan='0'\n"
    rc, out, _ = run_cli(*b, "show", "test")
    assert out.splitlines()[0] == b"test.lan=zone"
    assert run_cli(*b, "revert", "test") == (0, b"", b"")
    assert (savedir / "test").read_bytes() == b""
    assert run_cli("-c", str(confdir), "-t", str(savedir), "commit") == (0, b"", b"")


def test_extra_delta_path_and_conf2dir(dirs: tuple, tmp_path: Path) -> None:
    confdir, savedir = dirs
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "test").write_bytes(b"test.main.port='2525'\n")
    assert run_cli(*base(dirs), "-p", str(extra), "get", "test.main.port") == (0, b"2525\n", b"")
    assert run_cli(*base(dirs), "get", "test.main.port") == (0, b"25\n", b"")
    override = tmp_path / "override"
    override.mkdir()
    (override / "test").write_bytes(b"config settings 'main'\n\toption port '1'\n")
    assert run_cli(*base(dirs), "-C", str(override), "get", "test.main.port") == (0, b"1\n", b"")


def test_add_to_missing_config_returns_libuci_code(dirs: tuple) -> None:
    assert run_cli(*base(dirs), "add", "nosuch", "rule") == (3, b"", b"uci: Entry not found\n")


def test_python_dash_m(dirs: tuple) -> None:
    confdir, savedir = dirs
    # A real process sees libuci's real defaults (/tmp/.uci): use a name nothing else uses.
    (confdir / "secumail_uci_smoke").write_bytes((confdir / "test").read_bytes())
    argv = ["-c", str(confdir), "-P", str(savedir), "get", "secumail_uci_smoke.main.domain"]
    proc = subprocess.run(
        [sys.executable, "-m", "secumail.uci", *argv],
        capture_output=True, check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"example.com\n", b"")
