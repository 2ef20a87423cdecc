"""Fixtures for the secumail.uci tests: isolated config and save directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from secumail.uci import context
from tests.unit.uci.ucidata import SAMPLE


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
