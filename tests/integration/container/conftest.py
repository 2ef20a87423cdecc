"""Session-scoped LXC mail container for the container integration tests.

The reusable logic lives in tests/integration/lxcworld.py; other integration
packages can build their own world from it (with another name/bridge/subnet)
or import this fixture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from secumail.container import lxc_binding
from secumail.container.runtime import BINDING, COMMANDS, RUNNING, Container
from tests.integration.lxcworld import LxcWorld, lxc_world


@pytest.fixture(scope="session")
def lxcworld() -> Iterator[LxcWorld]:
    with lxc_world(name="smtest", bridge="smtest0", subnet="10.238.0", memory_mb=256) as world:
        yield world


@pytest.fixture(params=[BINDING, COMMANDS])
def backend(request: pytest.FixtureRequest) -> str:
    """Each runtime test runs once over python3-lxc and once over the lxc-* commands."""
    if request.param == BINDING and lxc_binding.load() is None:
        pytest.skip(f"python3-lxc not importable ({lxc_binding.why_missing()}): run make deps venv")
    return request.param


@pytest.fixture()
def running(lxcworld: LxcWorld, backend: str) -> LxcWorld:
    """The session container (started again if an earlier test stopped it), driven through `backend`."""
    world = dataclasses.replace(lxcworld, container=Container.from_spec(lxcworld.spec, backend=backend))
    if world.container.state() != RUNNING:
        world.container.start()
    return world


@pytest.fixture()
def running_once(lxcworld: LxcWorld) -> LxcWorld:
    """The session container through the default backend, for tests that start services once."""
    if lxcworld.container.state() != RUNNING:
        lxcworld.container.start()
    return lxcworld
