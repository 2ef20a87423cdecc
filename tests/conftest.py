"""Run-wide hooks: with `pytest -n N --dist loadgroup` (make test), integration tests that share a world
run in one worker, the longest worlds first (tests/support/worlds.py). Without xdist nothing changes."""

from __future__ import annotations

import contextlib
import os
import tempfile

import pytest

from tests.support.worlds import make_scheduler, save_groups, world_groups

GROUPS_KEY = "secumail_world_groups"


def _groups_path(config) -> str:
    return os.path.join(tempfile.gettempdir(), f"secumail-world-groups-{os.getpid()}.json")


def pytest_collection_modifyitems(config, items):
    path = getattr(config, "workerinput", {}).get(GROUPS_KEY)
    if path:
        save_groups(path, world_groups(items))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput[GROUPS_KEY] = _groups_path(node.config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own loadgroup scheduler
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return make_scheduler(config, log, _groups_path(config))
    return None


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and config.pluginmanager.hasplugin("dsession"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_groups_path(config))
