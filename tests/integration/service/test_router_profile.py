"""The appliance in a router's budget: agent, workers and container in one 256 MiB cgroup without swap and
half a core (tests/support/routerprofile.py). Every step a user's router goes through succeeds there and
nothing is OOM-killed; the figures go to bench/RESULTS.md through bench/router_profile.py (20,000
messages), this test backs up a small corpus (CORPUS) to stay short in `make test`.
"""

from __future__ import annotations

import dns.message
import dns.query
import pytest

from tests.integration.certs import world
from tests.integration.lxcworld import ensure_apt_packages, need_root
from tests.integration.service.routerworld import PROFILE, USER, router_appliance
from tests.support.routerprofile import cgroup_version

pytestmark = pytest.mark.integration

CORPUS = 2000


@pytest.fixture(scope="module")
def router(servers):
    need_root()
    if cgroup_version() is None:
        pytest.skip("the router profile needs a cgroup memory controller (v1 or v2) under /sys/fs/cgroup")
    ensure_apt_packages()
    with router_appliance(servers) as appliance:
        yield appliance


def test_every_step_succeeds_inside_the_budget_without_an_oom_kill(router):
    installed = router.install()
    assert installed["container"] == "RUNNING", installed
    # the container's cgroup is made below the profile's: the one limit covers it too
    assert router.init_cgroup().startswith(f"/{PROFILE}/"), router.init_cgroup()

    idle = router.idle()
    assert idle["agent_pss_mib"] > 5 and idle["container_pss_mib"] > 5, idle  # both were counted

    message = router.round_trip()
    assert f"To: {USER}".encode() in message

    backup = router.backup(CORPUS)
    assert backup["files"] > CORPUS and backup["files_read"] == backup["files"], backup  # corpus + alice's mail

    cert = router.certificate()
    assert cert["result"] == "issued" and cert["names"] == [f"mail.{world.ZONE}"], cert
    assert cert["services"] == "reloaded; the new certificate is served", cert

    published = router.dns_apply()
    assert published["conflicts"] == [], published
    answer = dns.query.udp(dns.message.make_query(world.ZONE, "MX"), world.DNS_ADDR, timeout=5)
    assert [str(rr.exchange) for rrset in answer.answer for rr in rrset] == [f"mail.{world.ZONE}."]

    status = router.luci_status()
    assert status["container"]["state"] == "RUNNING", status

    figures = router.figures
    print(f"router profile figures: {figures}")
    for name, step in figures.items():
        assert step.get("oom_kills", 0) == 0, f"{name}: OOM-killed in the profile: {figures}"
    assert router.profile.oom_kills() == 0
    assert router.profile.swap_mib() == 0
    assert set(figures) == {"install", "idle", "mail round trip", "mesh backup", "certificate issuance",
                            "DNS apply", "LuCI status call"}  # fmt: skip
