"""mailctl dns-setup / dns-check as a user runs them: a UCI file, a credentials file, the real Knot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.dns.servers import KNOT_ADDR, TSIG_NAME, TSIG_SECRET, resolve
from tests.support.paths import REPO

pytestmark = pytest.mark.integration



class Site:
    """/etc/config/mailserver and /etc/mailserver/dns.secret of a router, in a tmp dir."""

    def __init__(self, root) -> None:
        self.root = root
        self.confdir = root / "etc"
        self.confdir.mkdir()
        self.data = root / "data"
        self.secret = root / "dns.secret"
        self.secret.write_text(f"key_name={TSIG_NAME}\nkey_secret={TSIG_SECRET}\n")
        self.secret.chmod(0o600)
        self.write()

    def write(self, resolver: str = KNOT_ADDR, **dns: str) -> None:
        options = {
            "provider": "rfc2136",
            "server": KNOT_ADDR,
            "credentials": str(self.secret),
            "public_ipv4": "192.0.2.10",
            "timeout": "2",
            **dns,
        }
        lines = [
            "config mailserver 'main'",
            "\toption domain 'example.test'",
            "\toption hostname 'mail'",
            f"\toption data_path '{self.data}'",
            "",
            "config dns 'dns'",
            *(f"\toption {key} '{value}'" for key, value in options.items()),
            f"\tlist resolver '{resolver}'",
            "",
        ]
        (self.confdir / "mailserver").write_text("\n".join(lines))

    def mailctl(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "secumail.cli", "--confdir", str(self.confdir), *args]
        env = dict(os.environ, PYTHONPATH=REPO)
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd=str(self.root))


@pytest.fixture
def site(tmp_path, fresh_knot):
    return Site(tmp_path)


def row(text: str, *cells: str, prefix: bool = False) -> bool:
    """Is there a table line with these cells in this order (any column spacing; the last one a prefix)?"""
    pattern = r"^" + r"\s+".join(re.escape(c) for c in cells) + ("" if prefix else r"(\s|$)")
    return re.search(pattern, text, re.MULTILINE) is not None


def delete_mx_at_the_server(knot) -> None:
    knot.knotc("zone-begin", "example.test")
    knot.knotc("zone-unset", "example.test", "@", "MX")
    knot.knotc("zone-commit", "example.test")


def test_dns_setup_and_check_through_mailctl(site, fresh_knot):
    dry = site.mailctl("dns-setup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"DNS provider: rfc2136 ({KNOT_ADDR})\nPlanned changes (dry run, nothing changed):")
    assert row(dry.stdout, "create", "example.test", "MX", "10 mail.example.test.")
    assert row(dry.stdout, "create", "mail.example.test", "A", "192.0.2.10")
    assert "note: DKIM keys for example.test will be created when run without --dry-run" in dry.stdout
    assert (dry.stdout + dry.stderr).count("DKIM key") == 1  # said once, not once per lookup
    assert resolve("example.test", "MX") == [] and not site.data.joinpath("dkim").exists()

    before = site.mailctl("dns-check")
    assert before.returncode == 1
    assert row(before.stdout, "fail", "DKIM mail._domainkey.example.test", "no local DKIM key yet", prefix=True)
    assert (before.stdout + before.stderr).count("DKIM key") == 1

    plan = json.loads(site.mailctl("dns-setup", "--dry-run", "--json").stdout)
    assert plan["dry_run"] is True and plan["conflicts"] == []
    assert {"action": "create", "name": "example.test", "type": "MX"}.items() <= next(
        c for c in plan["changes"] if c["type"] == "MX"
    ).items()

    done = site.mailctl("dns-setup")
    assert done.returncode == 0, done.stderr
    assert "Changes applied:" in done.stdout and done.stderr == ""
    assert row(done.stdout, "create", "mail._domainkey.example.test", "TXT", '"v=DKIM1; k=rsa; p=', prefix=True)
    assert resolve("example.test", "MX") == ["10 mail.example.test."]

    again = site.mailctl("dns-setup", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["changes"] == [] and json.loads(again.stdout)["requests"] == 0
    assert "Nothing to do: every record is published." in site.mailctl("dns-setup").stdout

    ok = site.mailctl("dns-check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert row(ok.stdout, "ok", "example.test", "MX", "10 mail.example.test.", "10 mail.example.test.")
    assert row(ok.stdout, "ok", "DKIM mail._domainkey.example.test", "public key equals the local key")
    assert ok.stdout.rstrip().endswith("All required records are correct.")
    report = json.loads(site.mailctl("dns-check", "--json").stdout)
    assert report["ok"] is True and report["failed"] == 0
    assert all(r["status"] == "ok" for r in report["records"] if r["required"])

    delete_mx_at_the_server(fresh_knot)
    bad = site.mailctl("dns-check")
    assert bad.returncode == 1
    assert row(bad.stdout, "missing", "example.test", "MX", "10 mail.example.test.", "-")
    assert "1 required item(s) wrong" in bad.stdout
    report = site.mailctl("dns-check", "--json")
    assert report.returncode == 1
    data = json.loads(report.stdout)
    assert data["ok"] is False and data["failed"] == 1
    assert [(r["name"], r["type"], r["status"]) for r in data["records"] if r["status"] != "ok"] == [
        ("example.test", "MX", "missing")
    ]

    # dns-setup repairs exactly what is wrong.
    fixed = site.mailctl("dns-setup", "--json")
    assert fixed.returncode == 0
    assert [(c["action"], c["name"], c["type"]) for c in json.loads(fixed.stdout)["changes"]] == [
        ("create", "example.test", "MX")
    ]
    assert site.mailctl("dns-check").returncode == 0


def _one_line_error(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    """Exit `code`, one line on stderr and no traceback; with --json also one error document on stdout."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    if "--json" in result.args:
        assert json.loads(result.stdout) == {"error": lines[0], "code": code}
    else:
        assert result.stdout == ""
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(message, lines[0]), lines[0]


def test_bad_setups_are_one_line_errors_and_change_nothing(site, tmp_path):
    site.write(credentials=str(tmp_path / "missing.secret"))
    _one_line_error(site.mailctl("dns-setup"), 2, r"^mailctl: DNS credentials file .*/missing.secret does not exist")

    site.write()
    site.secret.chmod(0o644)
    _one_line_error(site.mailctl("dns-setup"), 2, r"is readable by others \(mode 0644\): chmod 600 ")
    site.secret.chmod(0o600)

    site.write(provider="nosuch")
    _one_line_error(site.mailctl("dns-setup", "--dry-run"), 2, r"unknown DNS provider 'nosuch' \(known: .*rfc2136")

    site.write(server="127.0.53.9", timeout="1")  # nothing listens there
    _one_line_error(site.mailctl("dns-setup"), 1, r"^mailctl: DNS server 127.0.53.9:53 did not answer within 1 s$")
    _one_line_error(site.mailctl("dns-check", "--json"), 1, r"127.0.53.9:53 did not answer")

    assert resolve("example.test", "MX") == []
    assert not site.data.joinpath("dns", "state.json").exists()


def test_dns_check_with_a_silent_resolver_is_short(site):
    """The real Knot answers; the resolver (a bound UDP socket that reads nothing) never does."""
    import socket
    import time

    assert site.mailctl("dns-setup").returncode == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        site.write(resolver=f"127.0.0.1:{silent.getsockname()[1]}", timeout="3")
        start = time.monotonic()
        result = site.mailctl("dns-check", "--json")
        took = time.monotonic() - start
    assert took < 10, f"dns-check took {took:.1f} s"  # its deadline 2 × 3 s, not 3 s per record (> 30 s)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout  # every required record is at the authoritative server
    assert {r["status"] for r in report["records"] if r["required"]} == {"ok"}
    assert {r["resolver"] for r in report["records"]} == {"no answer"}
