"""Real DNS servers for the DNS tests (tests/integration/dns/servers.py), each started once per
session on its own loopback address, port 53, and stopped at the end."""

from __future__ import annotations

import pytest

from tests.integration.dns.servers import (
    KNOT_ADDR,
    PDNS_ADDR,
    PDNS_API_KEY,
    TSIG_NAME,
    TSIG_SECRET,
    PowerDns,
    ensure,
    knot_server,
    need_root,
)
from tests.support.files import write_secret
from tests.support.settings import make_settings


@pytest.fixture(scope="session")
def knot(tmp_path_factory):
    need_root()
    ensure("knot", "knot-dnsutils")
    server = knot_server(str(tmp_path_factory.mktemp("knot")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_knot(knot):
    knot.restart_fresh()
    return knot


@pytest.fixture
def rfc2136_settings(tmp_path, fresh_knot):
    """Settings for example.test via rfc2136 at the test Knot, data_path in tmp."""
    creds = write_secret(tmp_path / "dns.secret", f"key_name={TSIG_NAME}\nkey_secret={TSIG_SECRET}\n")

    def build(**over):
        dns = {
            "provider": "rfc2136",
            "server": KNOT_ADDR,
            "credentials": creds,
            "public_ipv4": "192.0.2.10",
            "resolver": (KNOT_ADDR,),
            "timeout": 5,
            **over.pop("dns", {}),
        }
        main = {"domain": "example.test", "data_path": str(tmp_path / "data"), **over.pop("main", {})}
        return make_settings(main=main, dns=dns, **over)

    return build


@pytest.fixture(scope="session")
def pdns(tmp_path_factory):
    need_root()
    ensure("pdns-server", "pdns-backend-sqlite3", "sqlite3")
    server = PowerDns(str(tmp_path_factory.mktemp("pdns")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def powerdns_settings(tmp_path, pdns):
    pdns.stop()
    pdns.start()
    creds = write_secret(tmp_path / "pdns.secret", f"[powerdns]\napi_key = {PDNS_API_KEY}\n")

    def build(**over):
        dns = {
            "provider": "powerdns",
            "server": pdns.api,
            "credentials": creds,
            "public_ipv4": "192.0.2.10",
            "resolver": (PDNS_ADDR,),
            "timeout": 5,
            **over.pop("dns", {}),
        }
        main = {"domain": "example.test", "data_path": str(tmp_path / "data"), **over.pop("main", {})}
        return make_settings(main=main, dns=dns, **over)

    return build
