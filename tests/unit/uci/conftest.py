"""Fixtures for the secumail.uci tests: isolated config and save directories."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from secumail.uci import cli, context

SAMPLE = b"""config settings 'main'
\toption domain 'example.com'
\toption port '25'
\toption enabled 'yes'
\tlist peer 'alpha'
\tlist peer 'beta'

config rule
\toption name 'first'
\toption target 'ACCEPT'

config rule
\toption name 'second'
\toption target 'DROP'

config zone 'lan'
\toption network 'lan'
\toption addr '192.0.2.1'
\toption addr6 '2001:db8::1'
"""


@pytest.fixture(autouse=True)
def _isolated_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # libuci always also reads deltas from its compiled-in savedir (/tmp/.uci)
    # and prefers /var/run/uci overrides: keep the tests away from both.
    monkeypatch.setattr(context, "DEFAULT_SAVEDIR", str(tmp_path / "default-savedir"))
    monkeypatch.setattr(context, "DEFAULT_CONF2DIR", str(tmp_path / "default-conf2dir"))


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple:
    """(confdir, savedir) with config ``test`` = SAMPLE; savedir does not exist yet."""
    confdir = tmp_path / "config"
    confdir.mkdir()
    (confdir / "test").write_bytes(SAMPLE)
    return confdir, tmp_path / "save"


def run_cli(*argv: str) -> tuple:
    """(rc, stdout bytes, stderr bytes) of the uci CLI run in-process."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = cli.main(list(argv), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()
