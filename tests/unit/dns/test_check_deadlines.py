"""dns-check against servers that do not answer: a silent server costs one timeout, not one per query.

The silent server is a bound UDP socket that reads nothing; the answering one is a tiny
authoritative stand-in (empty NOERROR answers) on another loopback port.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import dns.flags
import dns.message
import pytest

from secumail.cli import main
from secumail.config.validate import split_server
from secumail.dns import wire


@pytest.fixture
def silent():
    """host:port of a UDP socket that never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def answering():
    """host:port of a server that answers every query at once, authoritatively, with no records."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                continue
            response = dns.message.make_response(dns.message.from_wire(data))
            response.flags |= dns.flags.AA
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    sock.close()


def dns_check(tmp_path, capsys, *, server, resolver, timeout):
    conf = tmp_path / "config"
    conf.mkdir(exist_ok=True)
    (conf / "mailserver").write_text(
        f"config mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{tmp_path / 'data'}'\n\n"
        f"config dns 'dns'\n\toption provider 'rfc2136'\n\toption server '{server}'\n"
        f"\toption public_ipv4 '192.0.2.10'\n\toption timeout '{timeout}'\n\tlist resolver '{resolver}'\n"
    )
    start = time.monotonic()
    code = main(["--confdir", str(conf), "--json", "dns-check"])
    took = time.monotonic() - start
    out = capsys.readouterr()
    return code, out.out, out.err, took


def test_silent_resolver_costs_one_timeout(tmp_path, capsys, answering, silent):
    code, out, err, took = dns_check(tmp_path, capsys, server=answering, resolver=silent, timeout=2)
    assert took < 4, f"dns-check took {took:.1f} s"
    report = json.loads(out)
    assert report["records"] and {r["resolver"] for r in report["records"]} == {"no answer"}
    ptr = next(c for c in report["checks"] if c["check"].startswith("PTR"))
    assert "did not answer within 2 s" in ptr["detail"]
    assert code == 1  # nothing is published at the stand-in: the records are missing


def test_silent_authoritative_server_is_one_error_line_within_the_timeout(tmp_path, capsys, silent):
    code, out, err, took = dns_check(tmp_path, capsys, server=silent, resolver=silent, timeout=1)
    assert took < 2.5
    assert code == 1 and "Traceback" not in err
    assert json.loads(out)["error"] == f"mailctl: DNS server {silent} did not answer within 1 s"


def test_default_timeout_bounds_one_query_to_five_seconds(tmp_path, capsys, answering, silent):
    code, out, _, took = dns_check(tmp_path, capsys, server=answering, resolver=silent, timeout=10)
    assert took < 7.5, f"dns-check took {took:.1f} s"
    assert "did not answer within 5 s" in out


def test_total_deadline_stops_a_slow_run(silent):
    asker = wire.Asker(5, total=0.3)
    host, port = split_server(silent)
    start = time.monotonic()
    with pytest.raises(wire.NoAnswer):
        asker.query((host, port), "example.org", "A")
    with pytest.raises(wire.ProviderError, match="did not answer"):
        asker.query((host, port), "example.org", "MX")  # not asked again
    with pytest.raises(wire.ProviderError, match="allowed for all queries are spent"):
        asker.query(("127.0.0.2", port), "example.org", "A")
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("spec", ["192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:5353"])
def test_resolver_and_server_take_the_same_addresses(tmp_path, capsys, spec):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "mailserver").write_text(
        f"config mailserver 'main'\n\toption domain 'example.org'\n\toption data_path '{tmp_path}'\n"
    )
    for option in ("mailserver.dns.resolver", "mailserver.dns.server"):
        assert main(["--confdir", str(conf), "config", "set", option, spec]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["--confdir", str(conf), "config", "get", "mailserver.dns.resolver"]) == 0
    assert capsys.readouterr().out.strip() == spec


@pytest.mark.parametrize("spec", ["dns.example.org", "192.0.2.1:0", "192.0.2.1:x", "[2001:db8::1]x"])
def test_bad_resolver_is_one_line(tmp_path, capsys, spec):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "mailserver").write_text("config mailserver 'main'\n\toption domain 'example.org'\n")
    assert main(["--confdir", str(conf), "config", "set", "mailserver.dns.resolver", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mailctl: mailserver.dns.resolver"), err
