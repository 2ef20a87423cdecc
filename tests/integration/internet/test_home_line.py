"""A home line on the simulated internet (issue 15): outbound port 25 blocked by the ISP, mail through the
ISP's smarthost, the WAN address changing, and what dns-check and status say about it.

World: tests/support/internet.py (routers A and B with full appliances, Knot, Unbound), plus for the
relay test the ISP's smarthost (`inet.isp()`: smtp.isp.test, 198.51.100.25, a plain Postfix wanting
SASL on 587, tests/support/smarthost.py). Everything is done as a user does it: `mailctl` on the
router, mail submitted at the router's WAN address and read back over IMAPS, judged by dkimpy and
pyspf against the internet's resolver. Each test puts A and B back as it found them.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.support import smarthost
from tests.support.authcheck import verdict
from tests.support.inetmail import fetch, submit
from tests.support.internet import IMAGE_CACHE, NET, RESOLVER_IP, Site
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def isp(inet):
    with inet.isp() as running:
        print(f"ISP smarthost up in {inet.timings['isp']:.1f} s")
        yield running


def as_json(site: Site, *args: str, input: str | None = None):
    done = site.mailctl("--json", *args, check=False, input=input)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def check_row(site: Site, name: str) -> dict:
    """The row `name` of the site's dns-check (run on its router)."""
    _, report = as_json(site, "dns-check")
    return next(row for row in report["checks"] if row["check"] == name)


def set_options(site: Site, **options: str) -> None:
    for option, value in options.items():
        site.mailctl("config", "set", f"mailserver.dns.{option}", value)  # '' deletes the option


def queued(site: Site, rcpt: str) -> list[dict]:
    return [m for m in as_json(site, "queue", "list")[1] if rcpt in m["recipients"]]


def in_inbox(site: Site, user: str, token: str) -> bool:
    try:
        fetch(site, user, token, timeout=0)
    except AssertionError:
        return False
    return True


def test_port_25_blocked_mail_goes_through_the_isp_relay_and_passes_spf_and_dkim(inet, isp):
    a, b = inet.a, inet.b
    sender, rcpt = a.user("alice"), b.user("bob")
    set_options(a, smtp_probe=b.domain)  # the domain A sends to: its MX is probed
    set_options(b, smtp_probe=a.domain)
    try:
        with inet.block_port25(a):
            # dns-check on each router: A's line blocks port 25 (no relay yet), B's does not
            began = time.monotonic()
            row = check_row(a, "outbound port 25")
            print(f"A's dns-check with the probe: {time.monotonic() - began:.1f} s")
            assert row["status"] == "warn" and row["required"] is False
            assert row["detail"] == (f"no answer from {b.wan_ip}:25 ({b.fqdn}, MX of {b.domain}) within 1 s: the line "
                                     "seems to block outbound port 25; no relay carries the mail: configure one "
                                     "(docs/relay.md)")  # fmt: skip
            assert check_row(b, "outbound port 25") == {
                "check": "outbound port 25", "status": "ok", "required": False,
                "detail": f"{a.wan_ip}:25 ({a.fqdn}, MX of {a.domain}) answered: outbound port 25 is open"}
            # the block holds for the container behind the router too (Postfix's own connections)
            dropped = inet.dropped_port25(a)
            tried = a.in_ns("lxc-attach", "-P", a.lxc_path, "-n", a.container, "--", "timeout", "3", "bash", "-c",
                            f"exec 3<>/dev/tcp/{b.wan_ip}/25", check=False)  # fmt: skip
            assert tried.returncode != 0 and inet.dropped_port25(a) > dropped

            # the ISP's smarthost, password on stdin; the SPF of a.test includes the ISP's
            added = a.mailctl("relay", "add", "isp", isp.ip, "--user", smarthost.USER, "--no-verify",
                              "--password-stdin", input=smarthost.GOOD + "\n")  # fmt: skip
            assert added.stdout.strip() == (f"relay isp: {smarthost.USER} at [{isp.ip}]:587 (starttls), "
                                            "default relayhost")
            a.mailctl("config", "set", "mailserver.dns.spf_include", isp.spf_domain)
            a.mailctl("dns-setup")
            wait_until(lambda: f'"v=spf1 mx include:{isp.spf_domain} ~all"' in inet.resolve(a.domain, "TXT"),
                       timeout=20, what="the new SPF of a.test at the resolver")  # fmt: skip
            tested = a.mailctl("relay", "test")
            assert tested.stdout.strip().endswith(f"ok, AUTH as {smarthost.USER} ok"), tested.stdout

            token = submit(a, sender, rcpt)
            v = verdict(fetch(b, rcpt, token), RESOLVER_IP)
            assert v.client_ip == isp.ip and v.helo == isp.hostname  # it came through the ISP's smarthost
            assert v.spf == "pass", v  # include:isp.test
            assert v.dkim and v.dkim_domain == a.domain, v  # A's signature survived the relay
            assert v.dmarc_aligned, v

            # a wrong password: one clear line, exit 1; the next message waits in A's queue
            a.mailctl("relay", "add", "isp", isp.ip, "--user", smarthost.USER, "--no-verify", "--password-stdin",
                      input=smarthost.BAD + "\n")  # fmt: skip
            tested = a.mailctl("relay", "test", check=False)
            assert tested.returncode == 1 and "Traceback" not in tested.stderr
            (line,) = tested.stdout.splitlines()
            assert line.startswith(f"relay isp: [{isp.ip}]:587 refused the login of {smarthost.USER} "
                                   "(wrong user or password?): 535 ")
            token2 = submit(a, sender, rcpt)
            waiting = wait_until(lambda: [m for m in queued(a, rcpt) if "SASL authentication failed" in m["reason"]],
                                 timeout=60, what="the message waiting in A's queue")  # fmt: skip
            print(f"waiting at A: {waiting[0]['reason']}")
            assert not in_inbox(b, rcpt, token2)
            code, state = as_json(a, "status")
            assert state["delivery"]["port25"]["state"] == "blocked"
            assert state["delivery"]["relays"][0]["last_test"]["ok"] is False
            assert f"the last login test failed: {line}" in state["notes"]

            # fixed: the waiting message goes out at the next try (flushed here rather than waiting)
            a.mailctl("relay", "add", "isp", isp.ip, "--user", smarthost.USER, "--no-verify", "--password-stdin",
                      input=smarthost.GOOD + "\n")  # fmt: skip
            a.mailctl("queue", "flush")
            v = verdict(fetch(b, rcpt, token2), RESOLVER_IP)
            assert v.client_ip == isp.ip and v.spf == "pass" and v.dkim and v.dmarc_aligned, v
            assert queued(a, rcpt) == []

            # what status and dns-check say now
            a.mailctl("relay", "test")
            text = a.mailctl("status").stdout
            print(text)
            assert "Port 25 out:  blocked (dns-check " in text
            assert f"Relay:        isp [{isp.ip}]:587, default relayhost: last test ok " in text
            row = check_row(a, "outbound port 25")
            assert row["status"] == "warn" and row["detail"].endswith(
                f"; outbound mail goes through relay isp ([{isp.ip}]:587)")
            row = check_row(a, f"relay isp [{isp.ip}]:587")
            assert row["status"] == "ok" and row["detail"].endswith(f"ok, AUTH as {smarthost.USER} ok")
        assert check_row(a, "outbound port 25")["status"] == "ok"  # the block lifted: the next probe sees it
        assert "Port 25 out:  open (dns-check " in a.mailctl("status").stdout
    finally:
        a.mailctl("relay", "del", "isp", check=False)
        a.mailctl("config", "set", "mailserver.dns.spf_include", "", check=False)
        set_options(a, smtp_probe="")
        set_options(b, smtp_probe="")
        a.mailctl("dns-setup", check=False)


# --- the WAN address changes --------------------------------------------------------------------------


@pytest.fixture
def following(inet, tmp_path):
    """secumaild on router A following its WAN address (dns.public_ipv4 empty: read from the interface
    'wan'; a check every 30 s; A/AAAA TTL 30 s); afterwards the old address and config are back."""
    from tests.integration.daemon.secumaild import Daemon

    a = inet.a
    set_options(a, public_ipv4="", follow_wan="1", wan_ttl="30", wan_check_interval="30")
    a.mailctl("dns-setup")  # while following, the A record carries wan_ttl
    daemon = Daemon(str(tmp_path / "secumaild"), prefix=tuple(a.ns_argv()),
                    env_extra={"SECUMAIL_CONFDIR": a.confdir, "SECUMAIL_IMAGE_CACHE": IMAGE_CACHE})  # fmt: skip
    os.makedirs(daemon.root)
    daemon.confdir = a.confdir
    try:
        daemon.start()
        daemon.wait_for(lambda: "wan-check" in daemon.call("daemon.info")["timers"], what="the WAN timer")
        # a check now (as the hotplug event asks for one): the next one is the periodic one, 30 s on
        assert daemon.call("wan.check") == {"result": "unchanged", "address": a.wan_ip}
        yield daemon
    finally:
        daemon.stop()
        print(daemon.logtext()[-2000:])
        inet.move_wan(a, a.wan_ip)
        set_options(a, public_ipv4=a.wan_ip, follow_wan="", wan_ttl="", wan_check_interval="")
        a.mailctl("dns-setup", check=False)


def knot_a(name: str) -> tuple[int, list[str]]:
    import dns.message
    import dns.query

    from tests.support.internet import KNOT_IP

    answer = dns.query.udp(dns.message.make_query(name, "A"), KNOT_IP, timeout=3).answer
    return (answer[0].ttl, sorted(r.to_text() for r in answer[0])) if answer else (0, [])


def test_the_a_record_follows_a_new_wan_address_and_mail_from_b_arrives_there(inet, following):
    a, b = inet.a, inet.b
    new_address = f"{NET}.11"
    assert knot_a(a.fqdn) == (30, [a.wan_ip])  # published with wan_ttl: resolvers forget it within 30 s

    # the router gets a new lease; nobody tells secumaild (no netifd here): its periodic check finds it
    moved_at = time.monotonic()
    moved = inet.move_wan(a, new_address)
    # B sends at once, while the old address is still published: its try finds nobody there
    early = submit(b, b.user("bob"), a.user("alice"))
    waiting = wait_until(lambda: [m["reason"] for m in queued(b, a.user("alice")) if a.wan_ip in m["reason"]],
                         timeout=30, interval=0.5, what="the early message waiting in B's queue")  # fmt: skip
    print(f"B's queue after the move: {waiting}")
    wait_until(lambda: inet.resolve(a.fqdn, "A") == [new_address], timeout=60, interval=0.2,
               what="the resolver to answer the new A record")  # fmt: skip
    took = time.monotonic() - moved_at
    print(f"the resolver answered {new_address} {took:.1f} s after the move (check every 30 s, Unbound's cache <= 5 s)")
    assert took < 60
    assert knot_a(a.fqdn) == (30, [new_address])
    following.wait_for(lambda: f"public address changed from {a.wan_ip} to {new_address}" in following.logtext(),
                       what="secumaild's line")  # fmt: skip

    # B's Postfix looks the MX up again at every try: the early message waits in B's queue for its next
    # retry (minutes); flushed here ('mailctl queue flush' on B), it arrives at the new address.
    b.mailctl("queue", "flush")
    raw = fetch(moved, a.user("alice"), early)
    assert verdict(raw, RESOLVER_IP).client_ip == b.wan_ip

    # a new message goes to the new address directly
    token = submit(b, b.user("bob"), a.user("alice"))
    v = verdict(fetch(moved, a.user("alice"), token), RESOLVER_IP)
    assert v.client_ip == b.wan_ip and v.spf == "pass" and v.dkim and v.dmarc_aligned, v
