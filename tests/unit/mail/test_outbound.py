"""Can mail leave the line (issue 15, item 7): the port-25 probe, what it means with or without a relay,
what dns-check shows and what `mailctl status` reads back (secumail.mail.outbound)."""

from __future__ import annotations

import errno
import os
import socket
import stat

import pytest

from secumail.cli.server import status_text
from secumail.config.settings import Settings
from secumail.mail import outbound


def settings(tmp_path, extra: str = "") -> Settings:
    from secumail.config import load_settings

    conf = tmp_path / "config"
    conf.mkdir(exist_ok=True)
    (conf / "mailserver").write_text(
        f"config mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{tmp_path / 'data'}'\n"
        + extra
    )  # fmt: skip
    return load_settings(str(conf), str(tmp_path / "save"))  # never the machine's pending UCI changes


RELAY = "\nconfig relay 'isp'\n\toption host 'smtp.isp.example'\n\toption user 'me@isp.example'\n"


def refusing(exc: BaseException):
    def connect(address, timeout):
        assert address[1] == 25 and timeout == 1.0  # always port 25, one second
        raise exc

    return connect


def test_a_listening_server_is_open(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        seen = []

        def connect(address, timeout):
            seen.append(address)
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)

        result = outbound.probe("192.0.2.25", "mx.example.net, MX of example.net", connect=connect)
    assert seen == [("192.0.2.25", 25)]
    assert result.state == "open" and not result.blocked
    assert result.detail == "192.0.2.25:25 (mx.example.net, MX of example.net) answered: outbound port 25 is open"


@pytest.mark.parametrize("exc, state, detail", [
    (TimeoutError("timed out"), "blocked",
     "no answer from 192.0.2.25:25 (mx) within 1 s: the line seems to block outbound port 25"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused",
     "192.0.2.25:25 (mx) refused the connection: that server is down or the line rejects outbound port 25"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable",
     "cannot reach 192.0.2.25:25 (mx): Network is unreachable"),
])  # fmt: skip
def test_what_a_failed_connect_means(exc, state, detail):
    result = outbound.probe("192.0.2.25", "mx", connect=refusing(exc))
    assert (result.state, result.detail) == (state, detail)
    assert result.blocked


def test_a_blocked_port_is_a_warning_that_names_the_relay_or_asks_for_one(tmp_path):
    blocked = outbound.probe("192.0.2.25", "mx", connect=refusing(TimeoutError()))
    status, detail = outbound.verdict(blocked, settings(tmp_path))
    assert status == "warn" and detail.endswith("; no relay carries the mail: configure one (docs/relay.md)")
    status, detail = outbound.verdict(blocked, settings(tmp_path, RELAY))
    assert status == "warn"
    assert detail.endswith("; outbound mail goes through relay isp ([smtp.isp.example]:587)")
    # a relay for one sender domain only does not carry the rest
    only = RELAY + "\tlist sender_domain 'example.org'\n"
    assert outbound.verdict(blocked, settings(tmp_path, only))[1].endswith("configure one (docs/relay.md)")


def test_the_last_probe_is_kept_0600_and_a_skipped_one_keeps_it(tmp_path):
    data = str(tmp_path / "data")
    assert outbound.last_port25(data) is None
    blocked = outbound.probe("192.0.2.25", "mx", connect=refusing(TimeoutError()))
    outbound.record_port25(data, blocked)
    outbound.record_port25(data, outbound.skipped("no dns.smtp_probe"))
    assert outbound.last_port25(data) == blocked
    path = tmp_path / "data" / "dns" / "port25.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text("{not json")  # a damaged file is "never probed", not a crash of status
    assert outbound.last_port25(data) is None


def test_status_shows_the_last_probe_and_each_relays_last_test(tmp_path):
    s = settings(tmp_path)
    blocked = outbound.probe("192.0.2.25", "mx.example.net, MX of example.net", connect=refusing(TimeoutError()))
    outbound.record_port25(s.main.data_path, blocked)
    delivery = outbound.delivery_status(s)
    assert delivery["port25"]["state"] == "blocked" and delivery["relays"] == []
    (note,) = outbound.delivery_notes(s, delivery)
    assert note == ("outbound port 25 looked blocked at the last dns-check (192.0.2.25:25 (mx.example.net, MX of "
                    "example.net)): mail to other servers waits; configure a relay (docs/relay.md)")

    s = settings(tmp_path, RELAY)
    delivery = outbound.delivery_status(s)
    assert outbound.delivery_notes(s, delivery) == []  # the relay carries the mail
    (relay,) = delivery["relays"]
    assert relay == {"name": "isp", "nexthop": "[smtp.isp.example]:587", "user": "me@isp.example", "default": True,
                     "sender_domain": [], "last_test": None}
    assert outbound.relay_verdict(relay) == ("warn", "default relayhost, as me@isp.example; not tested yet: run "
                                             "'mailctl relay test'")  # fmt: skip
    line = "relay isp: [smtp.isp.example]:587 refused the login of me@isp.example (wrong user or password?): 535 no"
    outbound.record_relay_test(s.main.data_path, "isp", ok=False, message=line)
    delivery = outbound.delivery_status(s)
    assert outbound.delivery_notes(s, delivery) == [f"the last login test failed: {line}"]
    status, detail = outbound.relay_verdict(delivery["relays"][0])
    assert status == "warn" and detail.startswith("default relayhost; last test ") and detail.endswith(line)

    text = status_text({"config": {"fqdn": "mail.example.org", "domain": "example.org", "enabled": True},
                        "container": {"name": "mailserver", "state": "RUNNING"}, "ports": {"smtp": 25},
                        "mesh": {"enabled": False}, "delivery": delivery, "notes": []})  # fmt: skip
    lines = text.splitlines()
    p25 = next(x for x in lines if x.startswith("Port 25 out:"))
    assert p25.startswith("Port 25 out:  blocked (dns-check ") and "no answer from 192.0.2.25:25" in p25
    relay_line = next(x for x in lines if x.startswith("Relay:"))
    assert relay_line.startswith("Relay:        isp [smtp.isp.example]:587, default relayhost: last test FAILED ")


def test_status_before_any_probe_says_how_to_get_one(tmp_path):
    text = status_text({"config": {"fqdn": "m", "domain": "d", "enabled": False}, "container": {"name": "c",
                        "state": "STOPPED"}, "ports": {}, "mesh": {"enabled": False},
                        "delivery": {"port25": None, "relays": []}, "notes": []})  # fmt: skip
    assert "Port 25 out:  not probed yet (set dns.smtp_probe, then 'mailctl dns-check')" in text.splitlines()


class FakeServers:
    """The part of dns-check's Servers the probe's target lookup uses."""

    def __init__(self, answers: dict[tuple[str, str], list[str]]) -> None:
        self.resolvers = [("192.0.2.53", 53)]
        self.answers = answers
        self.asker = self

    def ask(self, server, name, rtype, recursion):
        from secumail.dns.records import RRset

        values = self.answers.get((name, rtype))
        return RRset(name, rtype, 60, tuple(values)) if values else None

    def resolve_address(self, servers, name):
        from secumail.errors import ProviderError

        values = self.answers.get((name, "A"))
        if not values:
            raise ProviderError(f"cannot resolve {name} through 192.0.2.53:53")
        return values[0]


@pytest.mark.parametrize("probe, answers, target", [
    ("", {}, "set mailserver.dns.smtp_probe to a domain you send to (its MX is probed) to check this"),
    ("192.0.2.7", {}, ("192.0.2.7", "dns.smtp_probe")),
    ("b.test", {("b.test", "MX"): ["20 backup.b.test.", "10 mail.b.test."], ("mail.b.test", "A"): ["192.0.2.20"]},
     ("192.0.2.20", "mail.b.test, MX of b.test")),
    ("relay.b.test", {("relay.b.test", "A"): ["192.0.2.21"]}, ("192.0.2.21", "relay.b.test")),
    ("nowhere.test", {}, "cannot look up nowhere.test: cannot resolve nowhere.test through 192.0.2.53:53"),
])  # fmt: skip
def test_the_probe_goes_to_the_lowest_mx_of_the_configured_domain_or_to_the_host(tmp_path, probe, answers, target):
    from secumail.dns.check import _port25_target

    s = settings(tmp_path, f"\nconfig dns 'dns'\n\toption smtp_probe '{probe}'\n")
    assert _port25_target(s, FakeServers(answers)) == target

