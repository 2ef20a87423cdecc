"""Real DNS servers for the DNS tests: Knot (TSIG, dynamic updates) and PowerDNS (HTTP API).

Each starts once per session on its own loopback address, port 53, and is killed at the end.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.unit.dns.conftest import make_settings

KNOT_ADDR = "127.0.53.1"
PDNS_ADDR = "127.0.54.1"
PDNS_API_PORT = 18081
TSIG_NAME = "secumail-test"
TSIG_SECRET = base64.b64encode(b"secumail-test-tsig-secret-32byte").decode()
PDNS_API_KEY = "pdns-test-api-key"
ZONES = ("example.test", "example.org.test", "example.net.test")


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("DNS integration tests need root (they start Knot and PowerDNS on port 53)")


def _apt(*packages: str) -> None:
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], capture_output=True, env=env
        )
        if done.returncode != 0:
            pytest.skip(f"cannot install {' '.join(missing)}: {done.stderr.decode()[-200:]}")


def _wait_port(addr: str, port: int, proto=socket.SOCK_STREAM, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, proto) as s:
            s.settimeout(0.2)
            try:
                s.connect((addr, port))
                return
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {addr}:{port}")


def zone_text(zone: str, ns_addr: str) -> str:
    return (
        f"$ORIGIN {zone}.\n$TTL 300\n"
        f"@ SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
        f"@ NS ns1.{zone}.\nns1 A {ns_addr}\n"
        f'@ TXT "google-site-verification=keep-me"\n'
    )



def _terminate(proc: subprocess.Popen | None) -> None:
    """Stop a server we started: TERM, then KILL after 10 s."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

class Knot:
    def __init__(self, workdir: str) -> None:
        self.dir = workdir
        self.addr = KNOT_ADDR
        self.proc: subprocess.Popen | None = None

    def conf(self) -> str:
        zones = "".join(f"  - domain: {z}\n    acl: [upd]\n" for z in (*ZONES, "2.0.192.in-addr.arpa"))
        return f"""server:
    rundir: "{self.dir}"
    user: root:root
    listen: {self.addr}@53
key:
  - id: {TSIG_NAME}
    algorithm: hmac-sha256
    secret: {TSIG_SECRET}
acl:
  - id: upd
    key: {TSIG_NAME}
    action: [update, transfer]
database:
    storage: "{self.dir}/db"
template:
  - id: default
    storage: "{self.dir}/zones"
    file: "%s.zone"
    zonefile-sync: 0
    journal-content: changes
zone:
{zones}"""

    def reset_zones(self) -> None:
        """Fresh zone files and journal (the server must be stopped)."""
        zdir = os.path.join(self.dir, "zones")
        shutil.rmtree(zdir, ignore_errors=True)
        shutil.rmtree(os.path.join(self.dir, "db"), ignore_errors=True)
        os.makedirs(zdir)
        os.makedirs(os.path.join(self.dir, "db"))
        for zone in ZONES:
            with open(os.path.join(zdir, f"{zone}.zone"), "w") as fh:
                fh.write(zone_text(zone, self.addr))
        with open(os.path.join(zdir, "2.0.192.in-addr.arpa.zone"), "w") as fh:
            fh.write(
                "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 300\n@ SOA ns1.example.test. h.example.test. 1 3600 600 "
                "86400 60\n@ NS ns1.example.test.\n10 PTR mail.example.test.\n"
            )

    def start(self) -> None:
        with open(os.path.join(self.dir, "knot.conf"), "w") as fh:
            fh.write(self.conf())
        self.reset_zones()
        self.proc = subprocess.Popen(
            ["knotd", "-c", os.path.join(self.dir, "knot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "log"), "w"),  # noqa: SIM115
        )
        _wait_port(self.addr, 53)
        self.wait_loaded()

    def wait_loaded(self) -> None:
        import dns.message
        import dns.query

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                r = dns.query.udp(dns.message.make_query("example.test.", "SOA"), self.addr, timeout=0.5)
                if r.answer:
                    return
            except Exception:  # noqa: S110
                pass
            time.sleep(0.05)
        raise RuntimeError("knot did not load the zones")

    def knotc(self, *args: str) -> str:
        return subprocess.run(
            ["knotc", "-c", os.path.join(self.dir, "knot.conf"), *args], capture_output=True, text=True, check=True
        ).stdout

    def restart_fresh(self) -> None:
        """Back to the pristine zones (between tests that need an empty zone)."""
        self.stop()
        self.start()

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def knot(tmp_path_factory):
    _need_root()
    _apt("knot", "knot-dnsutils")
    server = Knot(str(tmp_path_factory.mktemp("knot")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_knot(knot):
    knot.restart_fresh()
    return knot


def write_secret(path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


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
        _wait_port("127.0.0.1", PDNS_API_PORT)
        _wait_port(self.addr, 53)

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def pdns(tmp_path_factory):
    _need_root()
    _apt("pdns-server", "pdns-backend-sqlite3", "sqlite3")
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
