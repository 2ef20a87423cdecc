"""Unit tests never talk to a secumaild that happens to run on this host (a demo appliance)."""

import pytest


@pytest.fixture(autouse=True)
def _private_rundir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SECUMAIL_RUNDIR", str(tmp_path_factory.mktemp("rundir")))
