"""The daemon's entry points: run_backup with progress, run_sync argument checks."""

import dataclasses

import pytest

from secumail.config import load_settings
from secumail.errors import InputError
from secumail.mesh.backup_and_sync import run_backup, run_sync
from secumail.mesh.transport import PeerError


def test_run_backup_reports_progress_and_returns_the_snapshot(node, monkeypatch):
    node.fill(messages=120)
    monkeypatch.setenv("SECUMAIL_CONFDIR", str(node.conf))
    settings = load_settings(str(node.conf))
    seen = []
    result = run_backup(settings, progress=seen.append, confdir=str(node.conf))
    assert result["files"] > 120 and len(result["snapshot"]) == 64
    assert seen and seen[0]["phase"] == "backup" and seen[-1]["files"] <= result["files"]
    assert run_backup(settings, confdir=str(node.conf))["files_read"] == 0  # incremental: nothing read


def test_run_sync_checks_direction_and_needs_a_peer(node):
    settings = load_settings(str(node.conf))
    with pytest.raises(InputError, match="use pull, push or both"):
        run_sync(settings, "sideways")
    with pytest.raises(PeerError, match="no pinned peer"):
        run_sync(dataclasses.replace(settings), "both")
