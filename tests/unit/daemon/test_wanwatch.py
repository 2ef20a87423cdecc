"""secumaild's WAN follower: a job only when the address differs from the one we published."""

from __future__ import annotations

import json
import logging
import os
import time
from types import SimpleNamespace

from secumail.daemon.scheduler import Scheduler
from secumail.daemon.wanwatch import WanFollower
from tests.support.settings import make_settings


class Jobs:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict]] = []
        self.busy = False

    def active(self, name: str) -> bool:
        return self.busy

    def start(self, name: str, args: dict, origin: str = "api"):
        self.started.append((name, args))
        return SimpleNamespace(id=f"j{len(self.started)}")


class Agent(WanFollower):
    def __init__(self, settings) -> None:
        self.settings = settings
        self.jobs = Jobs()  # type: ignore[assignment]
        self.timers = Scheduler()
        self.scale = 1.0
        self.not_before: dict[str, float] = {}
        self.failures: dict[str, int] = {}

    def _backoff(self, key: str, cap: float) -> float:
        self.not_before[key] = time.monotonic() + 60
        return 60.0


def following(tmp_path, published: str | None = "192.0.2.10", **dns):
    s = make_settings(tmp_path, main={"domain": "example.com"},
                      dns={"follow_wan": True, "provider": "rfc2136", **dns})  # fmt: skip
    if published:  # what secumail.dns.plan.save_state writes (not imported: see the last test)
        os.makedirs(os.path.join(s.main.data_path, "dns"), exist_ok=True)
        with open(os.path.join(s.main.data_path, "dns", "state.json"), "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "published": {"mail.example.com A": [published], "example.com MX": ["10 x."]}},
                      handle)  # fmt: skip
    return s


def test_no_job_while_the_address_is_the_published_one(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "secumaild")
    agent = Agent(following(tmp_path))
    monkeypatch.setattr("secumail.dns.wan.local_ipv4", lambda interface: "192.0.2.10")
    for _ in range(3):
        assert agent.wan_check() == {"result": "unchanged", "address": "192.0.2.10"}
    assert agent.jobs.started == [] and caplog.text == ""
    assert 299 < agent.timers.pending()["wan-check"] <= 300  # next check: dns.wan_check_interval


def test_a_changed_address_starts_one_update_and_is_logged_once(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "secumaild")
    agent = Agent(following(tmp_path))
    monkeypatch.setattr("secumail.dns.wan.local_ipv4", lambda interface: "203.0.113.77")
    assert agent.wan_check()["result"] == "updating"
    agent.jobs.busy = True  # the job runs: further checks (timer, hotplug) start nothing
    assert agent.wan_check(reason="signal") == {"result": "busy"}
    assert agent.jobs.started == [("wan-update", {"ipv4": "203.0.113.77", "_logged": True})]
    assert caplog.messages == [
        "public address changed from 192.0.2.10 to 203.0.113.77: updating A records of mail.example.com"]


def test_reasons_not_to_follow_are_logged_once_each(tmp_path, monkeypatch, caplog):
    from secumail.errors import SecumailError

    def private(interface):
        raise SecumailError("WAN address on eth0: 10.0.0.2 is a private address")

    monkeypatch.setattr("secumail.dns.wan.local_ipv4", private)
    agent = Agent(following(tmp_path / "a"))
    agent.wan_check()
    agent.wan_check()
    agent = Agent(following(tmp_path / "b", published=None))
    agent.wan_check()
    agent.settings = following(tmp_path / "c", provider="manual")
    agent.wan_check()
    assert agent.jobs.started == []
    assert [r.message for r in caplog.records if r.levelno == logging.WARNING] == [
        "follow_wan: public address unknown: WAN address on eth0: 10.0.0.2 is a private address",
        "follow_wan: no A record of mail.example.com published yet: run 'mailctl dns-setup' first",
        "follow_wan: dns.provider is manual: the A record cannot be updated automatically",
    ]


def test_auto_asks_in_the_job_and_logs_when_it_changed(tmp_path, caplog):
    caplog.set_level(logging.INFO, "secumaild")
    agent = Agent(following(tmp_path, public_ipv4="auto"))
    assert agent.wan_check()["result"] == "asking"
    assert agent.jobs.started == [("wan-update", {"ipv4": ""})]
    unchanged = {"changed": False, "from": "192.0.2.10", "to": "192.0.2.10", "names": ["mail.example.com"]}
    agent._wan_job_finished(SimpleNamespace(state="done", result=unchanged, args={"ipv4": ""}))
    assert caplog.messages == []
    changed = dict(unchanged, changed=True, to="203.0.113.9")
    agent._wan_job_finished(SimpleNamespace(state="done", result=changed, args={"ipv4": ""}))
    assert caplog.messages == [
        "public address changed from 192.0.2.10 to 203.0.113.9: updating A records of mail.example.com"]


def test_a_changed_wan_ipv6_address_moves_the_aaaa_record_alone(tmp_path, monkeypatch, caplog):
    from secumail.errors import SecumailError

    caplog.set_level(logging.INFO, "secumaild")
    s = following(tmp_path, public_ipv6="wan")
    with open(os.path.join(s.main.data_path, "dns", "state.json"), "w", encoding="utf-8") as handle:
        json.dump({"published": {"mail.example.com A": ["192.0.2.10"], "mail.example.com AAAA": ["2001:db8:1::25"]}},
                  handle)  # fmt: skip
    agent = Agent(s)
    monkeypatch.setattr("secumail.dns.wan.local_ipv4", lambda interface: "192.0.2.10")
    monkeypatch.setattr("secumail.dns.wan.local_ipv6", lambda interface: "2001:db8:1::25")
    assert agent.wan_check()["result"] == "unchanged"
    monkeypatch.setattr("secumail.dns.wan.local_ipv6", lambda interface: "2001:db8:2::25")
    assert agent.wan_check()["result"] == "updating"
    assert agent.jobs.started == [("wan-update", {"ipv4": "192.0.2.10", "ipv6": "2001:db8:2::25", "_logged": True})]
    assert caplog.messages == [
        "public IPv6 address changed from 2001:db8:1::25 to 2001:db8:2::25: updating AAAA records of mail.example.com"]

    def unknown(interface):
        raise SecumailError("wan0 has no global IPv6 address")

    monkeypatch.setattr("secumail.dns.wan.local_ipv6", unknown)
    caplog.clear()
    assert agent.wan_check()["result"] == "unchanged" and agent.wan_check()["result"] == "unchanged"
    assert caplog.messages == [
        "follow_wan: public IPv6 address unknown, AAAA left as it is: wan0 has no global IPv6 address"]


def test_a_failed_update_backs_off_the_timer_but_not_a_hotplug_event(tmp_path, monkeypatch, caplog):
    agent = Agent(following(tmp_path))
    monkeypatch.setattr("secumail.dns.wan.local_ipv4", lambda interface: "203.0.113.77")
    agent._wan_job_finished(SimpleNamespace(state="failed", result=None, error="BADSIG", args={}))
    assert caplog.messages == ["wan-update: the A record stays as it is; next try in 60 s"]
    assert agent.wan_check() == {"result": "waiting"}
    assert agent.wan_check(reason="signal")["result"] == "updating"


def test_off_cancels_the_timer(tmp_path):
    agent = Agent(following(tmp_path))
    agent._schedule_wan(None, agent.settings)
    assert "wan-check" in agent.timers.pending()
    off = make_settings(tmp_path)
    agent._schedule_wan(agent.settings, off)
    agent.settings = off
    assert "wan-check" not in agent.timers.pending()
    assert agent.wan_check() == {"result": "off"}


def test_a_check_loads_nothing_heavy_into_the_daemon(tmp_path):
    """A check runs in secumaild itself at every interval: no hashlib/libcrypto, no ssl, no dnspython."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tests.unit.daemon.test_wanwatch import Agent, following\n"
        f"agent = Agent(following({str(tmp_path)!r}))\n"
        "import secumail.dns.wan as wan\n"
        "wan.local_ipv4 = lambda interface: '203.0.113.77'\n"
        "print(agent.wan_check()['result'])\n"
        "print(sorted(m for m in ('hashlib', '_hashlib', 'ssl', 'dns', 'urllib.request') if m in sys.modules))\n"
    )
    from tests.support.paths import REPO

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.split("\n")[:2] == ["updating", "[]"], out
