"""Fixtures shared by every integration directory.

`servers` (Knot on 127.0.61.1 and two pebbles) is session-wide and defined once here: a second
definition elsewhere would start a second pebble on the same address while the first still runs.
"""

import os
import shutil
import tempfile

import pytest

from tests.integration.certs import world
from tests.integration.certs.world import BLOCKED, EAB


@pytest.fixture(scope="session")
def servers():
    if os.geteuid() != 0:
        pytest.skip("certificate integration tests need root (Knot on port 53, apt)")
    reason = world.ensure_packages()
    if reason:
        pytest.skip(reason)
    workdir = tempfile.mkdtemp(prefix="secumail-certs-")
    knot = world.start_knot(os.path.join(workdir, "knot"))
    pebbles = []
    try:
        # one day of validity: short enough that ssl-status warns, long enough for the tests
        pebble = world.start_pebble(
            os.path.join(workdir, "pebble"), f"{world.DNS_ADDR}:53", validity=86400, blocklist=[BLOCKED]
        )
        pebbles.append(pebble)
        eab_pebble = world.start_pebble(
            os.path.join(workdir, "pebble-eab"), f"{world.DNS_ADDR}:53", port=14001, mgmt_port=15001, eab=EAB
        )
        pebbles.append(eab_pebble)
        yield {"knot": knot, "pebble": pebble, "eab_pebble": eab_pebble, "workdir": workdir}
    finally:
        for server in pebbles:
            server.stop()
        knot.stop()
        shutil.rmtree(workdir, ignore_errors=True)
