"""Where the public IPv4 comes from (secumail.dns.wan) and the A/AAAA-only plan (dns.setup.update_addresses)."""

from __future__ import annotations

import json
import os
import re

import pytest

from secumail.dns import wan
from secumail.dns.plan import load_state, save_state
from secumail.dns.providers.base import DnsProvider
from secumail.dns.records import RRset
from secumail.dns.setup import update_addresses
from secumail.errors import SecumailError
from tests.support.httpanswer import answering_service

# --- which addresses may stand in an A record ---------------------------------------------------


@pytest.mark.parametrize("text", ["8.8.4.4", " 203.0.113.5\n", "192.0.2.10", "1.1.1.1"])
def test_public_addresses_pass(text):
    assert wan.publishable_ipv4(text) == text.strip()


@pytest.mark.parametrize(("text", "problem"), [
    ("10.1.2.3", "10.1.2.3 is a private address"),
    ("192.168.1.1", "is a private address"), ("172.20.0.1", "is a private address"),
    ("100.64.0.9", "is a private address"), ("127.0.0.1", "127.0.0.1 is not a public address"),
    ("169.254.1.1", "is not a public address"), ("224.0.0.1", "is not a public address"),
    ("240.0.0.1", "is not a public address"),
    ("0.0.0.0", "is not a public address"),  # noqa: S104 - a value, not a bind
    ("2001:db8::1", "'2001:db8::1' is not an IPv4 address"), ("8.8.8.8 8.8.4.4", "is not an IPv4 address"),
    ("<html>" + "x" * 500, "'<html>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not an IPv4 address"),
])  # fmt: skip
def test_what_cannot_be_published_is_refused_with_the_reason(text, problem):
    with pytest.raises(ValueError) as info:
        wan.publishable_ipv4(text)
    assert problem in str(info.value) and "\n" not in str(info.value)


# --- the WAN interface ----------------------------------------------------------------------------


def test_default_route_is_the_lowest_metric_zero_destination(tmp_path):
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "lan0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "wwan0\t00000000\t0101A8C0\t0003\t0\t0\t20\t00000000\t0\t0\t0\n"
        "eth1\t00000000\t010000CB\t0003\t0\t0\t10\t00000000\t0\t0\t0\n"
    )
    assert wan.default_route_device(str(tmp_path)) == "eth1"
    (tmp_path / "proc/net/route").write_text("Iface\tDestination\n")
    assert wan.default_route_device(str(tmp_path)) is None
    assert wan.default_route_device(str(tmp_path / "nowhere")) is None


def test_named_interface_first_then_the_default_route(tmp_path, monkeypatch):
    monkeypatch.setattr("secumail.system.proc.which", lambda prog: None)
    (tmp_path / "sys/class/net/wan0").mkdir(parents=True)
    addresses = {"wan0": "203.0.113.5", "eth9": "198.51.100.7", "lan0": "192.168.1.2"}
    monkeypatch.setattr(wan, "interface_ipv4", addresses.get)
    monkeypatch.setattr(wan, "default_route_device", lambda root="/": "eth9")
    assert wan.local_ipv4("wan0", root=str(tmp_path)) == "203.0.113.5"
    assert wan.local_ipv4("wan", root=str(tmp_path)) == "198.51.100.7"  # no such interface: the default route's
    monkeypatch.setattr(wan, "default_route_device", lambda root="/": "lan0")
    with pytest.raises(SecumailError, match=r"^WAN address on lan0: 192.168.1.2 is a private address \(the router is "
                                            r"behind another NAT: set mailserver.dns.public_ipv4 auto\)$"):
        wan.local_ipv4("wan", root=str(tmp_path))
    monkeypatch.setattr(wan, "default_route_device", lambda root="/": None)
    with pytest.raises(SecumailError, match="no interface wan and no default route"):
        wan.local_ipv4("wan", root=str(tmp_path))


@pytest.mark.parametrize(("text", "problem"), [
    ("2001:db8:1::25", None), ("2a01:4f8::1", None),
    ("fd12:3456::1", "is a unique local address"), ("fe80::1", "is not a public address"),
    ("::1", "is not a public address"), ("ff02::1", "is not a public address"), ("::", "is not a public address"),
    ("::ffff:192.0.2.1", "is not a public address"), ("192.0.2.1", "'192.0.2.1' is not an IPv6 address"),
])  # fmt: skip
def test_which_ipv6_addresses_may_stand_in_an_aaaa_record(text, problem):
    if problem is None:
        assert wan.publishable_ipv6(text) == text
        return
    with pytest.raises(ValueError, match=re.escape(problem)):
        wan.publishable_ipv6(text)


def test_the_wan_ipv6_address_is_a_stable_global_one(tmp_path, monkeypatch):
    """/proc/net/if_inet6: privacy (temporary), deprecated (the old prefix after a renumbering),
    tentative and link-local addresses are not published; the IPv6 default route names the device."""
    monkeypatch.setattr("secumail.system.proc.which", lambda prog: None)
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/if_inet6").write_text(
        "fe800000000000000000000000000001 02 40 20 80     eth1\n"  # link-local
        "20010db8000100000000000000000099 02 40 00 01     eth1\n"  # temporary
        "20010db8000100000000000000000042 02 40 00 a0     eth1\n"  # deprecated
        "20010db8000100000000000000000007 02 40 00 c0     eth1\n"  # tentative
        "fd000000000000000000000000000005 02 40 00 80     eth1\n"  # unique local
        "20010db8000200000000000000000025 02 40 00 80     eth1\n"  # the one
        "20010db8000300000000000000000001 03 40 00 80     lan0\n"
    )
    (tmp_path / "proc/net/ipv6_route").write_text(
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    )
    assert wan.default_route6_device(str(tmp_path)) == "eth1"
    assert wan.local_ipv6("wan", root=str(tmp_path)) == "2001:db8:2::25"
    (tmp_path / "sys/class/net/lan0").mkdir(parents=True)
    assert wan.local_ipv6("lan0", root=str(tmp_path)) == "2001:db8:3::1"
    (tmp_path / "proc/net/ipv6_route").write_text("")
    with pytest.raises(SecumailError, match="^no interface wan and no IPv6 default route"):
        wan.local_ipv6("wan", root=str(tmp_path))
    (tmp_path / "sys/class/net/eth2").mkdir(parents=True)
    with pytest.raises(SecumailError, match="^eth2 has no global IPv6 address$"):
        wan.local_ipv6("eth2", root=str(tmp_path))


def test_the_kernel_is_asked_for_a_real_interface():
    assert wan.interface_ipv4("lo") == "127.0.0.1"
    assert wan.interface_ipv4("nosuchif0") is None


def test_openwrt_asks_ubus_for_the_logical_interface(tmp_path, monkeypatch):
    ubus = tmp_path / "ubus"
    ubus.write_text(
        '#!/bin/sh\ncase "$2" in\n network.interface.wan) echo \'{"ipv4-address":[{"address":"100.64.3.4"},'
        '{"address":"203.0.113.9","mask":24}]}\';;\n network.interface.wanb) echo \'{"ipv4-address":'
        '[{"address":"10.0.0.2"}]}\';;\n network.interface.down) echo \'{"up":false}\';;\n *) exit 4;;\nesac\n'
    )
    ubus.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert wan.local_ipv4("wan") == "203.0.113.9"
    with pytest.raises(SecumailError, match=r"^WAN address of wanb: 10.0.0.2 is a private address"):
        wan.local_ipv4("wanb")
    with pytest.raises(SecumailError, match=r"^WAN address of down: none \(the interface is down\)$"):
        wan.local_ipv4("down")
    with pytest.raises(SecumailError, match=r"ubus knows no interface 'lan'"):
        wan.local_ipv4("lan")


# --- the web service (public_ipv4 auto) -----------------------------------------------------------


@pytest.fixture
def service():
    with answering_service() as answer:
        yield answer


def test_auto_takes_one_public_address_from_the_service(service):
    assert wan.fetch_public_ipv4(service(b"203.0.113.44\n"), 5) == "203.0.113.44"


@pytest.mark.parametrize(("body", "status", "problem"), [
    (b"1.2.3.4" + b" " * 2000, 200, "answered more than 64 bytes: not an address; refused"),
    (b"<html>hello</html>", 200, "answered: '<html>hello</html>' is not an IPv4 address; refused"),
    (b"192.168.0.7", 200, "answered: 192.168.0.7 is a private address; refused"),
    (b"\xff\xfe1.2.3.4", 200, "answered bytes that are not text"),
    (b"", 302, "answered HTTP 302; no address learnt"),
    (b"oops", 500, "answered HTTP 500; no address learnt"),
])  # fmt: skip
def test_a_hostile_or_broken_answer_is_one_line(service, body, status, problem):
    url = service(body, status, location="http://192.0.2.1/" if status == 302 else "")
    with pytest.raises(SecumailError) as info:
        wan.fetch_public_ipv4(url, 5)
    assert str(info.value).startswith(url) and problem in str(info.value) and "\n" not in str(info.value)


def test_plain_http_elsewhere_and_silence_are_refused():
    with pytest.raises(SecumailError, match="is not an https:// URL"):
        wan.fetch_public_ipv4("http://192.0.2.1/ip", 1)
    with pytest.raises(SecumailError, match=r"^cannot ask http://127.0.0.1:9/ip for the public address"):
        wan.fetch_public_ipv4("http://127.0.0.1:9/ip", 1)


def test_public_ipv4_follows_the_setting(settings_factory, service, monkeypatch):
    assert wan.public_ipv4(settings_factory(dns={"public_ipv4": "192.0.2.7"})) == "192.0.2.7"
    url = service(b"198.51.100.3")
    assert wan.public_ipv4(settings_factory(dns={"public_ipv4": "auto", "public_ip_url": url})) == "198.51.100.3"
    monkeypatch.setattr(wan, "local_ipv4", lambda interface: f"203.0.113.1 via {interface}")
    assert wan.public_ipv4(settings_factory(dns={"wan_interface": "eth7"})) == "203.0.113.1 via eth7"


def test_the_options_are_validated(settings_factory):
    from secumail.config.settings import Dns
    from secumail.errors import ConfigError

    for raw, problem in [({"public_ipv4": "2001:db8::1"}, "is not an IPv4 address, 'auto' or empty"),
                         ({"public_ip_url": "http://192.0.2.1/"}, "is not an https:// URL (http:// only to this"),
                         ({"wan_check_interval": "5"}, "is out of range"), ({"wan_ttl": "10"}, "is out of range"),
                         ({"wan_interface": "eth 0"}, "is not a valid network interface name"),
                         ({"follow_wan": "maybe"}, "is not a boolean")]:  # fmt: skip
        with pytest.raises(ConfigError, match=re.escape(problem)):
            Dns.from_uci(raw, "dns")
    dns = Dns.from_uci({"public_ipv4": "auto", "public_ip_url": "http://127.0.0.1:8080/"}, "dns")
    assert (dns.public_ipv4, dns.follow_wan, dns.wan_check_interval, dns.wan_ttl, dns.wan_interface) == (
        "auto", False, 300, 300, "wan")


# --- the A/AAAA-only plan -------------------------------------------------------------------------


class Memory(DnsProvider):
    """A zone in a dict: what the plan reads and writes, and which names it asked for."""

    name = "memory"
    needs_credentials = False

    def __init__(self, rrsets: list[RRset]) -> None:
        super().__init__(None, {})
        self.data = {rr.key: rr for rr in rrsets}
        self.asked: list[str | None] = []

    def zones(self) -> list[str]:
        return ["example.com"]

    def list_rrsets(self, zone, name=None):
        self.asked.append(name)
        return [rr for rr in self.data.values() if name is None or rr.name == name]

    def apply(self, zone, changes):
        self.requests += 1
        for change in changes:
            if change.new is None:
                self.data.pop(change.key, None)
            else:
                self.data[change.key] = change.new


def published(settings_factory, **dns):
    """Settings, and a zone holding what a full dns-setup published (A at 192.0.2.10, TTL 3600)."""
    s = settings_factory(dns={"follow_wan": True, "wan_ttl": 120, **dns})
    others = [RRset.make("example.com", "MX", 3600, ["10 mail.example.com."]),
              RRset.make("example.com", "TXT", 3600, ['"v=spf1 mx ~all"', '"site-verification=x"']),
              RRset.make("mail._domainkey.example.com", "TXT", 3600, ['"v=DKIM1; k=rsa; p=AAAA"']),
              RRset.make("mail.example.com", "CAA", 3600, ['0 issue "letsencrypt.org"'])]  # fmt: skip
    a = RRset.make("mail.example.com", "A", 3600, ["192.0.2.10"])
    ours = [rr for rr in [*others, a] if rr.type != "TXT" or "spf" in rr.values[0]]
    save_state(s.main.data_path, {rr.key: rr.values for rr in ours})
    return s, Memory([*others, a])


def test_a_only_plan_changes_the_a_record_with_the_short_ttl_and_nothing_else(settings_factory):
    s, zone = published(settings_factory)
    before = dict(zone.data)
    assert wan.published_address(s.main.data_path, "mail.example.com") == "192.0.2.10"
    result = update_addresses(s, "203.0.113.77", provider=zone)
    assert (result["from"], result["to"], result["names"], result["changed"]) == (
        "192.0.2.10", "203.0.113.77", ["mail.example.com"], True)
    assert zone.data[("mail.example.com", "A")] == RRset.make("mail.example.com", "A", 120, ["203.0.113.77"])
    assert {k: v for k, v in zone.data.items() if k[1] != "A"} == {k: v for k, v in before.items() if k[1] != "A"}
    assert zone.asked == ["mail.example.com"] * 2  # the plan's read and apply's read-back: one name only
    assert wan.published_address(s.main.data_path, "mail.example.com") == "203.0.113.77"
    state = load_state(s.main.data_path)
    assert state[("example.com", "MX")] == ("10 mail.example.com.",)  # the rest of the state is kept
    assert state[("mail.example.com", "CAA")] == ('0 issue "letsencrypt.org"',)
    again = update_addresses(s, "203.0.113.77", provider=zone)
    assert again["changed"] is False and again["requests"] == 1  # nothing sent the second time


def test_aaaa_follows_public_ipv6_and_is_short_lived_too(settings_factory):
    s, zone = published(settings_factory, public_ipv6="2001:db8::25")
    update_addresses(s, "203.0.113.77", provider=zone)
    assert zone.data[("mail.example.com", "AAAA")].ttl == 120


def test_an_a_record_we_did_not_publish_is_a_conflict_not_overwritten(settings_factory):
    s, zone = published(settings_factory)
    zone.data[("mail.example.com", "A")] = RRset.make("mail.example.com", "A", 60, ["198.51.100.200"])
    save_state(s.main.data_path, {})
    result = update_addresses(s, "203.0.113.77", provider=zone)
    assert result["conflicts"][0]["found"] == ["198.51.100.200"] and zone.requests == 0


def test_the_manual_provider_cannot_follow(settings_factory):
    with pytest.raises(SecumailError, match="dns.provider manual cannot update the A record by itself"):
        update_addresses(settings_factory(), "203.0.113.77")


def test_full_setup_uses_the_short_ttl_for_addresses_only_while_following(settings_factory):
    from secumail.dns.records import Keys, desired_records

    keys = Keys(ipv4="192.0.2.10", ipv6="2001:db8::25")
    ttls = lambda s: {rr.type: rr.ttl for rr in desired_records(s, "example.com", keys)}  # noqa: E731
    assert ttls(settings_factory(dns={"follow_wan": True, "wan_ttl": 300})) | {} == {
        **ttls(settings_factory()), "A": 300, "AAAA": 300}
    assert ttls(settings_factory())["A"] == 3600


def test_state_file_is_read_without_the_plan(tmp_path):
    assert wan.published_address(str(tmp_path), "mail.example.com") is None
    os.makedirs(tmp_path / "dns")
    (tmp_path / "dns" / "state.json").write_text("{broken")
    assert wan.published_address(str(tmp_path), "mail.example.com") is None
    (tmp_path / "dns" / "state.json").write_text(json.dumps({"published": {"mail.example.com A": ["192.0.2.1"]}}))
    assert wan.published_address(str(tmp_path), "mail.example.com") == "192.0.2.1"


def test_the_address_update_waits_while_a_dns_setup_holds_the_state(settings_factory):
    """dns-setup and the WAN follower both rewrite state.json: interleaved, one would undo the other."""
    import threading

    from secumail.dns.plan import state_lock

    s, zone = published(settings_factory)
    with state_lock(s.main.data_path):
        worker = threading.Thread(target=update_addresses, args=(s, "203.0.113.77"), kwargs={"provider": zone})
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and zone.asked == [] and zone.requests == 0
    worker.join(10)
    assert not worker.is_alive()
    assert zone.data[("mail.example.com", "A")].values == ("203.0.113.77",)


def test_the_aaaa_record_follows_the_wan_ipv6_and_is_left_alone_when_unknown(settings_factory):
    s, zone = published(settings_factory, public_ipv6="wan")
    zone.data[("mail.example.com", "AAAA")] = RRset.make("mail.example.com", "AAAA", 3600, ["2001:db8:1::25"])
    save_state(s.main.data_path, {**load_state(s.main.data_path), ("mail.example.com", "AAAA"): ("2001:db8:1::25",)})
    result = update_addresses(s, "192.0.2.10", ipv6="2001:db8:2::25", provider=zone)
    assert (result["from6"], result["to6"], result["changed"]) == ("2001:db8:1::25", "2001:db8:2::25", True)
    assert zone.data[("mail.example.com", "AAAA")] == RRset.make("mail.example.com", "AAAA", 120, ["2001:db8:2::25"])
    assert wan.published_address(s.main.data_path, "mail.example.com", "AAAA") == "2001:db8:2::25"
    # The WAN's IPv6 address could not be read: the A record still follows, the AAAA record stays.
    result = update_addresses(s, "203.0.113.77", provider=zone)
    assert result["to6"] == "2001:db8:2::25" and zone.data[("mail.example.com", "AAAA")].values == ("2001:db8:2::25",)
    assert zone.data[("mail.example.com", "A")].values == ("203.0.113.77",)
