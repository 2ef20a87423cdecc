"""`mailctl diagnose` keeps its deadline when no DNS server answers, and its report has the documented shape."""

from __future__ import annotations

import socket
import time

import pytest

from secumail.appliance.diagnose import DEADLINE, diagnose
from tests.support.settings import make_settings


@pytest.fixture
def silent_dns():
    """A UDP port that takes queries and never answers (and a TCP one that never accepts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{udp.getsockname()[1]}"


def test_every_dns_server_silent_still_finishes_within_the_deadline(tmp_path, silent_dns):
    settings = make_settings(
        tmp_path / "data",
        container={"lxc_path": str(tmp_path / "lxc")},
        dns={"provider": "rfc2136", "server": silent_dns, "resolver": (silent_dns,), "timeout": 60,
             "public_ipv4": "198.51.100.10", "smtp_probe": "b.test"},
        protection={"dnsbl": ("bl.test*3",)},
    )  # fmt: skip
    (tmp_path / "data").mkdir()
    began = time.monotonic()
    report = diagnose(settings, confdir=str(tmp_path / "conf"))
    took = time.monotonic() - began
    assert took <= DEADLINE + 1 <= 15, took
    checks = {c["id"]: c for c in report["checks"]}
    assert set(report) == {"ok", "worst", "elapsed", "checks", "skipped"}
    assert all(set(c) == {"id", "name", "status", "detail", "hint"} for c in report["checks"])
    assert checks["dns.records"]["status"] == "warn" and checks["dns.records"]["hint"], checks["dns.records"]
    assert checks["dnsbl"]["status"] == "warn" and "bl.test" in checks["dnsbl"]["detail"], checks["dnsbl"]
    assert checks["container"]["status"] == "fail" and "mailctl install" in checks["container"]["hint"]
    assert checks["certificate"]["status"] == "fail" and "ssl-setup" in checks["certificate"]["hint"]
    assert checks["disk"]["status"] in ("ok", "warn", "fail")
    assert report["ok"] is False and report["worst"] == "fail"
    skipped = {s["id"]: s["why"] for s in report["skipped"]}
    assert "mesh.enabled" in skipped["backup"] and "NTP" in skipped["clock"]
