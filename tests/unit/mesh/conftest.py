"""Two mesh nodes (tests/unit/mesh/meshnode.py) in tmp."""

import pytest

from tests.unit.mesh.meshnode import Node


@pytest.fixture
def node(tmp_path, capsys, monkeypatch):
    return Node(tmp_path / "a", capsys, monkeypatch)


@pytest.fixture
def other(tmp_path, capsys, monkeypatch):
    return Node(tmp_path / "b", capsys, monkeypatch)
