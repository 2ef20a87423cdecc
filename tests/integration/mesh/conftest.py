"""The mesh test world's network, once per session (tests/integration/mesh/nsworld.py)."""

import os
import shutil

import pytest

from tests.integration.mesh.nsworld import BRIDGE, NODES, sh, teardown


@pytest.fixture(scope="session")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is missing")
    teardown()
    sh("ip", "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
    sh("ip", "addr", "add", "10.239.7.254/24", "dev", BRIDGE)  # the test process talks to the nodes too
    sh("ip", "link", "set", BRIDGE, "up")
    for name, addr in NODES.items():
        ns, inside = f"smt-{name}", f"smt-{name}1"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"smt-{name}0", "type", "veth", "peer", "name", inside)
        sh("ip", "link", "set", f"smt-{name}0", "master", BRIDGE, "up")
        sh("ip", "link", "set", inside, "netns", ns)
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", inside)
        sh("ip", "-n", ns, "link", "set", inside, "multicast", "on", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", inside)  # mDNS; still no default route
    yield
    teardown()
