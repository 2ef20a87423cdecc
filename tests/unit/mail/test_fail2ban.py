import dataclasses
import os

import pytest

from secumail.config import default_package, settings_from_package
from secumail.errors import ConfigError
from secumail.mail.fail2ban import (
    Failure,
    FailureCounter,
    Guard,
    LogFollower,
    NftBanner,
    Options,
    options_from_settings,
    parse_line,
)

DOVECOT_23 = ("Jun  3 10:00:01 mail dovecot: imap-login: Disconnected: Connection closed (auth failed, "
              "3 attempts in 9 secs): user=<bob@example.org>, method=PLAIN, rip=192.0.2.7, lip=10.231.0.2, "
              "session=<abc>")  # fmt: skip
DOVECOT_ABORTED = ("2024-06-03T10:00:01 imap-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): "
                   "user=<x>, method=PLAIN, rip=2001:db8::5, lip=::1, TLS, session=<q>")  # fmt: skip
POSTFIX = ("Jun  3 10:00:02 mail postfix/submission/smtpd[812]: warning: unknown[198.51.100.9]: "
           "SASL LOGIN authentication failed: UGFzc3dvcmQ6")  # fmt: skip
POSTFIX_PLAIN = ("Jun  3 10:00:02 mail postfix/smtpd[77]: warning: host.example[::ffff:203.0.113.4]: "
                 "SASL PLAIN authentication failed: authentication failure")  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (DOVECOT_23, Failure("dovecot", "192.0.2.7", 3)),
        (DOVECOT_ABORTED, Failure("dovecot", "2001:db8::5", 1)),
        (POSTFIX, Failure("postfix", "198.51.100.9", 1)),
        (POSTFIX_PLAIN, Failure("postfix", "203.0.113.4", 1)),
    ],
)
def test_auth_failures_are_recognised(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "dovecot: imap-login: Login: user=<bob@example.org>, method=PLAIN, rip=192.0.2.7, lip=10.0.0.2",
        "dovecot: imap-login: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, rip=192.0.2.7",
        "postfix/smtpd[1]: connect from unknown[192.0.2.7]",
        "postfix/smtpd[1]: warning: unknown[not-an-ip]: SASL LOGIN authentication failed: x",
        "",
    ],
)
def test_other_lines_are_not_failures(line):
    assert parse_line(line) is None


def test_counter_bans_at_maxretry_within_findtime_only():
    c = FailureCounter(maxretry=10, findtime=600, ignore=["127.0.0.0/8"])
    for i in range(9):
        assert not c.add(Failure("dovecot", "192.0.2.7"), now=i)
    assert c.add(Failure("dovecot", "192.0.2.7"), now=9)
    # reset after the ban; failures spread beyond findtime never add up
    for i in range(30):
        assert not c.add(Failure("dovecot", "192.0.2.8"), now=i * 100)
    # attempts reported together count together; ignored networks never count
    assert c.add(Failure("dovecot", "192.0.2.9", 10), now=0)
    assert not c.add(Failure("dovecot", "127.0.0.1", 50), now=0)


def test_counter_memory_is_bounded():
    c = FailureCounter(maxretry=5, findtime=600)
    for i in range(10_000):
        c.add(Failure("postfix", f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"), now=0)
    assert len(c) <= 4096


def test_follower_reads_new_lines_and_survives_rotation(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("old line\n")
    f = LogFollower([str(log), str(tmp_path / "later.log")])
    assert f.read() == []
    with open(log, "a") as handle:
        handle.write("one\ntw")
    assert f.read() == ["one"]
    with open(log, "a") as handle:
        handle.write("o\n")
    assert f.read() == ["two"]
    os.rename(log, tmp_path / "mail.log.1")
    log.write_text("after rotation\n")
    assert f.read() == ["after rotation"]
    (tmp_path / "later.log").write_text("created later\n")
    assert f.read() == ["created later"]


class FakeBanner(NftBanner):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []

    def _run(self, script: str) -> None:
        self.scripts.append(script)


def test_guard_bans_through_nft_set_with_timeout(tmp_path):
    log = tmp_path / "dovecot.log"
    log.write_text("")
    banner = FakeBanner()
    options = Options(maxretry=10, findtime=600, bantime=120, ignore=("127.0.0.0/8",), ports=(143, 993),
                      logfiles=(str(log),))  # fmt: skip
    guard = Guard(options, banner=banner, clock=lambda: 0.0)
    guard.open()
    assert "tcp dport { 143, 993 } reject with tcp reset" in banner.scripts[0]
    assert "flags timeout" in banner.scripts[0]
    # bridged clients (no br_netfilter): the same sets in the bridge family, dropped after br_netfilter
    assert banner.scripts[1].startswith("add table bridge secumail\n")
    assert "hook forward priority 10;" in banner.scripts[1]
    assert "ip saddr @banned4 tcp dport { 143, 993 } drop" in banner.scripts[1]
    with open(log, "a") as handle:
        for _ in range(9):
            handle.write(DOVECOT_ABORTED.replace("2001:db8::5", "10.77.0.2") + "\n")
    assert guard.poll() == []
    with open(log, "a") as handle:
        handle.write(DOVECOT_ABORTED.replace("2001:db8::5", "10.77.0.2") + "\n")
    assert guard.poll() == ["10.77.0.2"]
    assert banner.scripts[-1] == ("add element inet secumail banned4 { 10.77.0.2 timeout 120s }\n"
                                  "add element bridge secumail banned4 { 10.77.0.2 timeout 120s }\n")


def test_options_from_settings_and_bad_ignoreip():
    s = settings_from_package(default_package())
    o = options_from_settings(s)
    assert (o.maxretry, o.findtime, o.bantime) == (10, 600, 3600)
    assert 143 in o.ports and 993 in o.ports
    assert o.logfiles[0].endswith("/var/log/mail.log")
    bad = dataclasses.replace(s, features=dataclasses.replace(s.features, fail2ban_ignoreip=("10.0.0.0/33",)))
    with pytest.raises(ConfigError, match="fail2ban_ignoreip"):
        options_from_settings(bad)


# A client picks its user name, HELO name and addresses; they are logged verbatim. None of them may name the
# address that gets banned.
FORGED = [
    # user name holding a rip= field: the real source is 203.0.113.50
    ("Jun  3 10:00:01 mail dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 9 secs): "
     "user=<x, rip=1.2.3.4>, method=PLAIN, rip=203.0.113.50, lip=10.231.0.2, TLS, session=<abc>",
     Failure("dovecot", "203.0.113.50", 3)),
    ("Jun 03 10:00:01 imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): "
     "user=<a, rip=1.2.3.4, lip=10.0.0.1, TLS, session=<q>, method=PLAIN, rip=198.51.100.3, lip=10.0.0.2, "
     "mpid=0, TLS, session=<r>",
     Failure("dovecot", "198.51.100.3", 1)),
]


@pytest.mark.parametrize(("line", "expected"), FORGED)
def test_a_user_name_holding_rip_does_not_name_the_source(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        # no real rip after the user name (a local connection): the forged one is not taken
        "dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x, rip=1.2.3.4, lip=5.6.7.8>, "
        "method=PLAIN, session=<abc>",
        "dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x, rip=1.2.3.4, lip=5.6.7.8, "
        "session=<q>, method=PLAIN, session=<abc>",
        # a Dovecot line that is no auth failure, with a user name that imitates one
        "dovecot: imap-login: Disconnected (disconnected while authenticating, waited 1 secs): "
        "user=<(auth failed, 99 attempts in 1 secs): user=<, rip=1.2.3.4, lip=1.1.1.1>, method=PLAIN, "
        "rip=203.0.113.9, lip=10.0.0.2, session=<x>",
        # Postfix logs a client's RCPT address / HELO verbatim: a quoted SASL failure is not one
        "Jun  3 10:00:02 mail postfix/smtpd[812]: warning: Illegal address syntax from unknown[203.0.113.9] in "
        "RCPT command: <postfix/smtpd[1]: warning: unknown[1.2.3.4]: SASL LOGIN authentication failed>",
        "Jun  3 10:00:02 mail postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 x; "
        "from=<a@b> to=<c@d> proto=ESMTP helo=<x postfix/smtpd[1]: warning: unknown[1.2.3.4]: SASL LOGIN "
        "authentication failed>",
    ],
)
def test_forged_fields_ban_nobody(line):
    assert parse_line(line) is None


def test_ipv6_sources_count_and_ban_per_64(tmp_path):
    log = tmp_path / "dovecot.log"
    log.write_text("")
    banner = FakeBanner()
    options = Options(maxretry=5, findtime=600, bantime=60, ignore=(), ports=(993,), logfiles=(str(log),))
    guard = Guard(options, banner=banner, clock=lambda: 0.0)
    guard.open()
    assert "add set inet secumail banned6net { type ipv6_addr; flags interval, timeout; }" in banner.scripts[0]
    assert "ip6 saddr @banned6net tcp dport { 993 } reject" in banner.scripts[0]
    with open(log, "a") as handle:  # five addresses inside one /64, one failure each
        for i in range(1, 6):
            handle.write(DOVECOT_ABORTED.replace("2001:db8::5", f"2001:db8:0:7::{i:x}") + "\n")
        handle.write(DOVECOT_ABORTED.replace("2001:db8::5", "2001:db8:0:8::1") + "\n")  # another /64
    assert guard.poll() == ["2001:db8:0:7::/64"]
    assert banner.scripts[-1] == ("add element inet secumail banned6net { 2001:db8:0:7::/64 timeout 60s }\n"
                                  "add element bridge secumail banned6net { 2001:db8:0:7::/64 timeout 60s }\n")


def test_a_64_holding_an_ignored_address_is_banned_per_address():
    c = FailureCounter(maxretry=2, findtime=600, ignore=["2001:db8:0:7::1/128"])
    assert c.key("2001:db8:0:7::99") == "2001:db8:0:7::99"
    assert c.key("2001:db8:0:8::99") == "2001:db8:0:8::/64"
    assert not c.add(Failure("dovecot", "2001:db8:0:7::99"), now=0)
    assert not c.add(Failure("dovecot", "2001:db8:0:7::98"), now=0)  # counted apart: the /64 is not one source
    assert not c.add(Failure("dovecot", "2001:db8:0:7::1", 5), now=0)  # the ignored one itself never counts
