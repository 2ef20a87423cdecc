"""Session-scoped LXC mail container for the container integration tests.

The reusable logic lives in tests/integration/lxcworld.py; other integration
packages can build their own world from it (with another name/bridge/subnet)
or import this fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from secumail.container.runtime import RUNNING
from tests.integration.lxcworld import LxcWorld, lxc_world


@pytest.fixture(scope="session")
def lxcworld() -> Iterator[LxcWorld]:
    with lxc_world(name="smtest", bridge="smtest0", subnet="10.238.0", memory_mb=256) as world:
        yield world


@pytest.fixture()
def running(lxcworld: LxcWorld) -> LxcWorld:
    """The session container, started again if an earlier test stopped it."""
    if lxcworld.container.state() != RUNNING:
        lxcworld.container.start()
    return lxcworld
