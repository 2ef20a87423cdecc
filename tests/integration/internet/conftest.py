"""The simulated internet (tests/support/internet.py), one per session of these tests."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.internet import internet


@pytest.fixture(scope="session")
def inet():
    if os.geteuid() != 0:
        pytest.skip("the simulated internet needs root (namespaces, LXC, Knot on port 53)")
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter (util-linux) is missing")
    with internet(log=print) as world:
        print(f"world up in {world.timings['up']:.1f} s: {world.timings}")
        yield world
