"""The DNS tests' servers: Knot (TSIG, dynamic updates) and PowerDNS (HTTP API), each on its own
loopback address, port 53 (fixtures in conftest.py; bench/dns_rfc2136.py uses them too)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import apt
from tests.support.knot import TSIG_NAME as TSIG_NAME  # re-exported for the tests and the bench
from tests.support.knot import Knot
from tests.support.procs import terminate
from tests.support.wait import wait_port

KNOT_ADDR = "127.0.53.1"
PDNS_ADDR = "127.0.54.1"
PDNS_API_PORT = 18081
TSIG_SECRET = base64.b64encode(b"secumail-test-tsig-secret-32byte").decode()
PDNS_API_KEY = "pdns-test-api-key"
ZONES = ("example.test", "example.org.test", "example.net.test")


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("DNS integration tests need root (they start Knot and PowerDNS on port 53)")


def ensure(*packages: str) -> None:
    """apt-get install the missing ones; skip the test on failure."""
    reason = apt.install(packages)
    if reason:
        pytest.skip(reason)


def zone_text(zone: str, ns_addr: str) -> str:
    return (
        f"$ORIGIN {zone}.\n$TTL 300\n"
        f"@ SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
        f"@ NS ns1.{zone}.\nns1 A {ns_addr}\n"
        f'@ TXT "google-site-verification=keep-me"\n'
    )


REVERSE = (
    "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 300\n@ SOA ns1.example.test. h.example.test. 1 3600 600 "
    "86400 60\n@ NS ns1.example.test.\n10 PTR mail.example.test.\n"
)


def knot_server(workdir: str) -> Knot:
    """Knot (not started) serving ZONES and the 192.0.2.0/24 reverse zone on KNOT_ADDR."""
    zones = {zone: zone_text(zone, KNOT_ADDR) for zone in ZONES}
    zones["2.0.192.in-addr.arpa"] = REVERSE
    return Knot(workdir, KNOT_ADDR, zones, secret=TSIG_SECRET)


class PowerDns:
    def __init__(self, workdir: str) -> None:
        self.dir = workdir
        self.addr = PDNS_ADDR
        self.api = f"http://127.0.0.1:{PDNS_API_PORT}"
        self.proc: subprocess.Popen | None = None

    def pdnsutil(self, *args: str) -> str:
        return subprocess.run(
            ["pdnsutil", f"--config-dir={self.dir}", *args], capture_output=True, text=True, check=True
        ).stdout

    def reset(self) -> None:
        db = os.path.join(self.dir, "pdns.sqlite3")
        if os.path.exists(db):
            os.unlink(db)
        schema = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"
        subprocess.run(["sqlite3", db], input=Path(schema).read_text(), text=True, check=True)
        for zone in ZONES:
            self.pdnsutil("create-zone", zone, f"ns1.{zone}")
            self.pdnsutil("add-record", zone, "ns1", "A", "300", self.addr)
            self.pdnsutil("add-record", zone, "@", "TXT", "300", '"google-site-verification=keep-me"')

    def start(self) -> None:
        conf = f"""launch=gsqlite3
gsqlite3-database={self.dir}/pdns.sqlite3
local-address={self.addr}
local-port=53
api=yes
api-key={PDNS_API_KEY}
webserver=yes
webserver-address=127.0.0.1
webserver-port={PDNS_API_PORT}
webserver-allow-from=127.0.0.0/8
socket-dir={self.dir}
guardian=no
daemon=no
disable-syslog=yes
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
"""
        with open(os.path.join(self.dir, "pdns.conf"), "w") as fh:
            fh.write(conf)
        self.reset()
        self.proc = subprocess.Popen(
            ["pdns_server", f"--config-dir={self.dir}"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "log"), "w"),  # noqa: SIM115
        )
        wait_port("127.0.0.1", PDNS_API_PORT, timeout=10, proc=self.proc)
        wait_port(self.addr, 53, timeout=10, proc=self.proc)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


def resolve(name: str, rtype: str, server: str = KNOT_ADDR) -> list[str]:
    """The records of `name` as the server answers them over TCP, sorted text."""
    import dns.message
    import dns.query

    r = dns.query.tcp(dns.message.make_query(name + ".", rtype), server, timeout=3)
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset)
