"""Run-wide hooks: integration tests that share a world run in one pytest-xdist worker (see
tests/support/worlds.py); without xdist the marks change nothing."""

from __future__ import annotations

import pytest

from tests.support.worlds import make_scheduler, world_groups


@pytest.hookimpl(tryfirst=True)  # before xdist appends the group name to the test ids
def pytest_collection_modifyitems(config, items):
    groups = world_groups(items)
    for item in items:
        if item.nodeid in groups:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return make_scheduler(config, log)
    return None
