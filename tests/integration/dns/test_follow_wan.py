"""dns.follow_wan end to end: secumaild sees the public address change and only the A record follows,
in a real Knot with TSIG.

The "router" is network namespace smwan: its WAN is wan0 (a veth whose peer isp0 stays in the
namespace; this kernel has no dummy driver) holding the default route, and a veth (10.245.0.2 in
the namespace, 10.245.0.1 on the host) reaches this test's own Knot. The test changes wan0's
address as a new DHCP lease would. With dns.public_ipv4 'auto' a loopback http server stands in
for the "what is my address" service (the one http exception the option allows).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.daemon.secumaild import Daemon
from tests.integration.dns.servers import KNOT_ADDR, TSIG_SECRET, ensure, need_root, resolve, zone_text
from tests.support.httpanswer import answering_service
from tests.support.knot import TSIG_NAME, Knot
from tests.support.paths import REPO
from tests.support.procs import descendants

pytestmark = pytest.mark.integration

NS = "smwan"
HOST_ADDR, NS_ADDR = "10.245.0.1", "10.245.0.2"
ZONE = "example.test"
FQDN = "mail.example.test"
HOOK = os.path.join(REPO, "files/etc/hotplug.d/iface/95-secumail")
CHANGE = "public address changed from {} to {}: updating A records of mail.example.test"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def zone_records(server: str) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    """The whole zone by AXFR (TSIG): (name, type) → (ttl, values), SOA left out (its serial moves)."""
    import dns.query
    import dns.tsigkeyring
    import dns.zone

    keyring = dns.tsigkeyring.from_text({TSIG_NAME: TSIG_SECRET})
    zone = dns.zone.from_xfr(dns.query.xfr(server, ZONE, keyring=keyring, keyalgorithm="hmac-sha256", timeout=5))
    out = {}
    for name, rdataset in zone.iterate_rdatasets():
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        if rtype != "SOA":
            values = tuple(sorted(r.to_text(origin=zone.origin, relativize=False) for r in rdataset))
            out[(name.derelativize(zone.origin).to_text(), rtype)] = (rdataset.ttl, values)
    return out


def a_record(server: str) -> tuple[int, list[str]]:
    """TTL and values of mail.example.test A as the server answers them."""
    import dns.message
    import dns.query

    answer = dns.query.tcp(dns.message.make_query(FQDN + ".", "A"), server, timeout=3).answer
    return (answer[0].ttl, sorted(r.to_text() for r in answer[0])) if answer else (0, [])


@pytest.fixture
def sites():
    """The secumaild instances a test started: stopped, their workers killed, at the end."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()
        for pid in descendants(d.proc.pid) if d.proc else []:
            os.kill(pid, signal.SIGKILL)


def write_site(sites: list, root, server: str, **dns: str) -> Daemon:
    d = Daemon(str(root), prefix=dns.pop("_prefix", ()))
    sites.append(d)
    os.makedirs(d.confdir)
    secret = os.path.join(str(root), "dns.secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f"key_name={TSIG_NAME}\nkey_secret={TSIG_SECRET}\n".encode())
    os.close(fd)
    options = {"provider": "rfc2136", "server": server, "credentials": secret, "timeout": "3",
               "follow_wan": "1", "wan_ttl": "300", **dns}  # fmt: skip
    with open(os.path.join(d.confdir, "mailserver"), "w", encoding="utf-8") as handle:
        handle.write(
            f"config mailserver 'main'\n\toption enabled '0'\n\toption domain '{ZONE}'\n\toption hostname 'mail'\n"
            f"\toption data_path '{d.data_path}'\n\n"
            f"config container 'container'\n\toption lxc_path '{d.lxc_path}'\n\n"
            "config features 'features'\n\toption fail2ban '0'\n\n"
            "config dns 'dns'\n" + "".join(f"\toption {k} '{v}'\n" for k, v in options.items())
        )  # fmt: skip
    return d


def mailctl(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*d.prefix, sys.executable, "-m", "secumail.cli", "--confdir", d.confdir, *args],
                          capture_output=True, text=True, env=d.env, timeout=120)  # fmt: skip


@pytest.fixture
def router(tmp_path):
    """Namespace smwan with WAN wan0 (203.0.113.5, default route) and a veth to the host's Knot."""
    need_root()
    ensure("knot", "knot-dnsutils")
    sh("ip", "netns", "del", NS, check=False)  # a run killed half-way
    sh("ip", "link", "del", "smwan-h", check=False)
    knot = None
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", "smwan-h", "type", "veth", "peer", "name", "smwan-n")
        sh("ip", "link", "set", "smwan-n", "netns", NS)
        sh("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", "smwan-h")
        sh("ip", "link", "set", "smwan-h", "up")
        for cmd in (("link", "set", "lo", "up"), ("addr", "add", f"{NS_ADDR}/24", "dev", "smwan-n"),
                    ("link", "set", "smwan-n", "up"), ("link", "add", "wan0", "type", "veth", "peer", "name", "isp0"),
                    ("addr", "add", "203.0.113.5/24", "dev", "wan0"), ("link", "set", "isp0", "up"),
                    ("link", "set", "wan0", "up"),
                    ("route", "add", "default", "dev", "wan0")):  # fmt: skip
            sh("ip", "-n", NS, *cmd)
        knot = Knot(str(tmp_path / "knot"), HOST_ADDR, {ZONE: zone_text(ZONE, HOST_ADDR)}, secret=TSIG_SECRET)
        os.makedirs(knot.workdir)
        knot.start()
        yield knot
    finally:
        if knot is not None:
            knot.stop()
        sh("ip", "netns", "del", NS, check=False)
        sh("ip", "link", "del", "smwan-h", check=False)


def set_wan(address: str) -> None:
    """What a new DHCP lease does to the WAN interface."""
    sh("ip", "-n", NS, "addr", "flush", "dev", "wan0")
    sh("ip", "-n", NS, "addr", "add", f"{address}/24", "dev", "wan0")
    sh("ip", "-n", NS, "route", "replace", "default", "dev", "wan0")


def hotplug(d: Daemon, tmp_path, action: str = "ifupdate") -> None:
    """netifd's iface event, through the shipped hook (uci and logger stubbed: the site's UCI is in tmp)."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "uci").write_text('#!/bin/sh\n[ "$*" = "-q get mailserver.dns.follow_wan" ] && echo 1\nexit 0\n')
    (stubs / "logger").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/syslog\n')
    for name in ("uci", "logger"):
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "ACTION": action, "INTERFACE": "wan", "SECUMAIL_RUNDIR": d.rundir}
    subprocess.run(["sh", "-c", f'( . "{HOOK}" )'], env=env, check=True, timeout=10)


def wait_a(server: str, address: str, timeout: float, d: Daemon) -> float:
    start = time.monotonic()
    d.wait_for(lambda: a_record(server)[1] == [address], timeout=timeout, what=f"A {address} in Knot")
    return time.monotonic() - start


def test_the_a_record_follows_the_wan_address_and_nothing_else_moves(router, sites, tmp_path):
    d = write_site(sites, tmp_path / "site", HOST_ADDR, wan_check_interval="3600", _prefix=("ip", "netns", "exec", NS))
    # The first full publication, as the user runs it; the address is read from the default route's wan0.
    first = mailctl(d, "dns-setup")
    assert first.returncode == 0, first.stderr + first.stdout
    assert a_record(HOST_ADDR) == (300, ["203.0.113.5"])
    before = zone_records(HOST_ADDR)
    assert (f"{ZONE}.", "MX") in before and (f"mail._domainkey.{ZONE}.", "TXT") in before
    assert before[(f"{ZONE}.", "MX")][0] == 3600  # only the addresses are short-lived
    d.start()
    d.wait_for(lambda: "wan-check" in d.call("daemon.info")["timers"], what="the WAN timer")

    # A new lease; netifd's hotplug event reaches secumaild long before the hourly check.
    set_wan("198.51.100.23")
    hotplug(d, tmp_path)
    took = wait_a(HOST_ADDR, "198.51.100.23", 60, d)
    assert took < 60
    assert a_record(HOST_ADDR)[0] == 300
    after = zone_records(HOST_ADDR)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {(f"mail.{ZONE}.", "A")}  # MX, SPF, DKIM, DMARC, SRV, ... untouched
    d.wait_for(lambda: [j["state"] for j in d.call("jobs.list") if j["name"] == "wan-update"] == ["done"],
               what="the update job done")  # fmt: skip
    assert d.logtext().count(CHANGE.format("203.0.113.5", "198.51.100.23")) == 1
    assert d.logtext().count("public address changed") == 1

    # Nothing changed: a hotplug event (DHCP renewal) and an explicit check start no job.
    hotplug(d, tmp_path)
    assert d.call("wan.check")["result"] == "unchanged"
    assert len([j for j in d.call("jobs.list") if j["name"] == "wan-update"]) == 1

    # The address changes while secumaild is down: after the restart it remembers what it published.
    # From here on it checks every 30 s, with time 10x faster (every 3 s): no hotplug event any more.
    d.stop()
    with open(os.path.join(d.confdir, "mailserver"), "a", encoding="utf-8") as handle:
        handle.write("\toption wan_check_interval '30'\n")  # the dns section is the file's last
    d.args = ("--time-scale", "10")
    set_wan("198.51.100.99")
    d.start()
    wait_a(HOST_ADDR, "198.51.100.99", 60, d)
    d.wait_for(lambda: CHANGE.format("198.51.100.23", "198.51.100.99") in d.logtext(), what="the restart's line")
    assert zone_records(HOST_ADDR).keys() == after.keys()

    # The periodic check alone (the non-OpenWrt case) follows a change within 60 s.
    set_wan("203.0.113.140")
    assert wait_a(HOST_ADDR, "203.0.113.140", 60, d) < 60
    d.wait_for(lambda: CHANGE.format("198.51.100.99", "203.0.113.140") in d.logtext(), what="the periodic line")

    # A private address (the router now behind another NAT) is not published: one warning, however often
    # it is checked.
    set_wan("192.168.7.2")
    hotplug(d, tmp_path)
    d.call("wan.check")
    time.sleep(7)  # two more periodic checks
    warning = "follow_wan: public address unknown: WAN address on wan0: 192.168.7.2 is a private address"
    assert d.logtext().count(warning) == 1
    assert a_record(HOST_ADDR)[1] == ["203.0.113.140"]
    assert d.logtext().count("public address changed") == 3
    assert len([j for j in d.call("jobs.list") if j["name"] == "wan-update"]) == 2  # since the restart
    d.signal(signal.SIGTERM)
    assert d.stop() == 0


def aaaa_record(server: str) -> list[str]:
    import dns.message
    import dns.query

    answer = dns.query.tcp(dns.message.make_query(FQDN + ".", "AAAA"), server, timeout=3).answer
    return sorted(r.to_text() for r in answer[0]) if answer else []


def set_wan6(address: str) -> None:
    """A new delegated prefix: the old address goes, the new one comes (nodad: no 1 s wait)."""
    sh("ip", "-n", NS, "-6", "addr", "flush", "dev", "wan0", "scope", "global")
    sh("ip", "-n", NS, "-6", "addr", "add", f"{address}/64", "dev", "wan0", "nodad")
    sh("ip", "-n", NS, "-6", "route", "replace", "default", "dev", "wan0")


def test_the_aaaa_record_follows_the_wan_ipv6_prefix(router, sites, tmp_path):
    d = write_site(sites, tmp_path / "site", HOST_ADDR, wan_check_interval="3600", public_ipv6="wan",
                   _prefix=("ip", "netns", "exec", NS))  # fmt: skip
    set_wan6("2001:db8:1::25")
    first = mailctl(d, "dns-setup")
    assert first.returncode == 0, first.stderr + first.stdout
    assert aaaa_record(HOST_ADDR) == ["2001:db8:1::25"] and a_record(HOST_ADDR)[1] == ["203.0.113.5"]
    before = zone_records(HOST_ADDR)
    d.start()
    d.wait_for(lambda: "wan-check" in d.call("daemon.info")["timers"], what="the WAN timer")

    set_wan6("2001:db8:2::25")  # the ISP hands out another prefix; the IPv4 address stays
    hotplug(d, tmp_path)
    d.wait_for(lambda: aaaa_record(HOST_ADDR) == ["2001:db8:2::25"], timeout=60, what="AAAA 2001:db8:2::25 in Knot")
    after = zone_records(HOST_ADDR)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {(f"mail.{ZONE}.", "AAAA")}
    assert after[(f"mail.{ZONE}.", "AAAA")][0] == 300
    d.wait_for(lambda: "public IPv6 address changed from 2001:db8:1::25 to 2001:db8:2::25" in d.logtext(),
               what="the log line")  # fmt: skip
    assert "public address changed" not in d.logtext()
    d.wait_for(lambda: [j["state"] for j in d.call("jobs.list") if j["name"] == "wan-update"] == ["done"],
               what="the update job done")  # fmt: skip

    # The WAN loses its global IPv6 address (a renumbering under way): the AAAA record stays, said once.
    sh("ip", "-n", NS, "-6", "addr", "flush", "dev", "wan0", "scope", "global")
    hotplug(d, tmp_path)
    d.call("wan.check")
    d.wait_for(lambda: "public IPv6 address unknown, AAAA left as it is" in d.logtext(), what="the warning")
    assert d.logtext().count("public IPv6 address unknown") == 1
    assert aaaa_record(HOST_ADDR) == ["2001:db8:2::25"]
    d.signal(signal.SIGTERM)
    assert d.stop() == 0


# --- dns.public_ipv4 auto --------------------------------------------------------------------------


@pytest.fixture
def what_is_my_address():
    with answering_service() as answer:
        yield answer


def test_auto_asks_the_service_and_refuses_hostile_answers(fresh_knot, what_is_my_address, sites, tmp_path):
    url = what_is_my_address(b"203.0.113.5\n")
    d = write_site(sites, tmp_path / "site", KNOT_ADDR, wan_check_interval="3600", public_ipv4="auto",
                   public_ip_url=url)
    first = mailctl(d, "dns-setup")
    assert first.returncode == 0, first.stderr + first.stdout
    assert resolve(FQDN, "A") == ["203.0.113.5"]
    before = zone_records(KNOT_ADDR)
    d.start()

    def check_now() -> dict:
        """wan.check, then the job it started (the worker asks the service)."""
        reply = d.call("wan.check")
        assert reply["result"] == "asking", reply
        return d.wait_job(reply["job"])

    d.wait_for(lambda: not any(j["state"] in ("queued", "running") for j in d.call("jobs.list")), what="start")
    what_is_my_address(b"198.51.100.40")
    job = check_now()
    assert job["state"] == "done", job
    assert a_record(KNOT_ADDR) == (300, ["198.51.100.40"])
    changed = {k for k in before.keys() | zone_records(KNOT_ADDR).keys() if before.get(k) != zone_records(
        KNOT_ADDR).get(k)}  # fmt: skip
    assert changed == {(f"mail.{ZONE}.", "A")}
    assert d.logtext().count(CHANGE.format("203.0.113.5", "198.51.100.40")) == 1
    assert check_now()["result"]["changed"] is False  # the same answer again: nothing sent
    assert d.logtext().count("public address changed") == 1

    for body, problem in [(b"198.51.100.41" + b" " * 100000, "answered more than 64 bytes: not an address; refused"),
                          (b"<html>your IP is 198.51.100.41</html>",
                           "answered: '<html>your IP is 198.51.100.41</html>' is not an IPv4 address; refused"),
                          (b"10.0.0.7", "answered: 10.0.0.7 is a private address; refused")]:  # fmt: skip
        what_is_my_address(body)
        job = check_now()
        assert job["state"] == "failed" and problem in job["error"] and "\n" not in job["error"], job
        assert a_record(KNOT_ADDR)[1] == ["198.51.100.40"]  # nothing published
        lines = [line for line in d.logtext().splitlines() if problem in line]
        assert lines == [f"secumaild: ERROR job {job['id']} (wan-update) failed: {url} {problem}"], lines
    assert "Traceback" not in d.logtext()
    assert zone_records(KNOT_ADDR).keys() == before.keys()


# --- dns-check: the PTR of the public address vs the HELO name --------------------------------------


def _ptr(address: str, target: str | None) -> None:
    """Set (or remove) the PTR of 192.0.2.x in the test Knot's reverse zone, as the line's provider would."""
    import dns.query
    import dns.tsigkeyring
    import dns.update

    keyring = dns.tsigkeyring.from_text({TSIG_NAME: TSIG_SECRET})
    update = dns.update.Update("2.0.192.in-addr.arpa", keyring=keyring, keyalgorithm="hmac-sha256")
    label = address.rsplit(".", 1)[1]
    update.delete(label, "PTR")
    if target:
        update.add(label, 300, "PTR", target + ".")
    assert dns.query.tcp(update, KNOT_ADDR, timeout=5).rcode() == 0


def test_dns_check_compares_the_ptr_with_the_helo_name(rfc2136_settings):
    from secumail.dns.check import check
    from secumail.dns.setup import setup

    def ptr_row(s) -> dict:
        return next(c for c in check(s)["checks"] if c["check"].startswith("PTR"))

    s = rfc2136_settings()  # 192.0.2.10, whose PTR is mail.example.test in the test zone
    setup(s)
    row = ptr_row(s)
    assert row == {"check": "PTR 192.0.2.10 vs HELO mail.example.test", "status": "ok", "required": False,
                   "detail": "192.0.2.10 → mail.example.test → 192.0.2.10: the PTR names the HELO name"}
    _ptr("192.0.2.10", "host-10.isp.example")
    assert ptr_row(s)["detail"] == ("192.0.2.10 → host-10.isp.example, not the HELO name mail.example.test (ask the "
                                    "line's provider to set the PTR of 192.0.2.10 to mail.example.test)")
    _ptr("192.0.2.10", None)
    row = ptr_row(s)
    assert row["status"] == "warn" and row["detail"].startswith("192.0.2.10 has no PTR; receivers distrust")
    # The WAN address moved to .11 (PTR to us) but the A record still says .10: the name does not lead back.
    _ptr("192.0.2.11", "mail.example.test")
    moved = rfc2136_settings(dns={"public_ipv4": "192.0.2.11"})
    assert ptr_row(moved)["detail"] == ("192.0.2.11 → mail.example.test, but mail.example.test → 192.0.2.10 "
                                        "(the name must lead back)")
