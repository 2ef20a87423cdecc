"""Operating the appliance: `mailctl diagnose` on a healthy appliance of the simulated internet, then one
fault at a time (each named with its hint, the rest still ok), and `mailctl metrics` counting what
happened across a log rotation and a restart of the mail services (and LuCI's hourly charts with them)."""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import json
import os
import shutil
import time

import pytest

from tests.support.imapclient import tls_context
from tests.support.inetmail import fetch, submit
from tests.support.internet import sh
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

# Not checkable in this world, so reported under "skipped": the clock (no NTP server on the simulated
# internet, none in UCI system.ntp) and the backups (mesh off). The relay rows need a relay (none here).
HEALTHY = {"container", "memory", "certificate", "disk", "inodes", "dns.records", "dns.ptr", "outbound.port25",
           "dnsbl", "relay.open", "queue", "service.opendkim"}  # fmt: skip


def diagnose(site) -> tuple[dict, float]:
    began = time.monotonic()
    proc = site.mailctl("--json", "diagnose", check=False, timeout=60)
    took = time.monotonic() - began
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout), took


def not_ok(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"] if c["status"] != "ok"}


@pytest.fixture(scope="module")
def site(inet):
    """Site A with what diagnose needs to say ok everywhere: a port-25 probe target (b.test's MX) and a
    blocklist the world's DNS serves (bl.test, where the WAN address is not listed)."""
    a = inet.a
    a.mailctl("config", "set", "mailserver.dns.smtp_probe", "b.test")
    a.mailctl("config", "set", "mailserver.protection.dnsbl", "bl.test*3")
    try:
        yield a
    finally:
        a.mailctl("config", "set", "mailserver.dns.smtp_probe", "", check=False)
        a.mailctl("config", "set", "mailserver.protection.dnsbl", "zen.spamhaus.org=127.0.0.[2..11]*3",
                  "bl.spamcop.net*2", "list.dnswl.org=127.0.[0..255].[2..3]*-2", check=False)  # fmt: skip


def test_a_healthy_appliance_is_ok_everywhere(site):
    report, took = diagnose(site)
    assert not_ok(report) == {}, report
    ids = {c["id"] for c in report["checks"]}
    assert ids >= HEALTHY, HEALTHY - ids
    assert {c["id"] for c in report["checks"] if c["id"].startswith("port.")} == {
        f"port.{name}" for name in ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "sieve")
    }
    assert {s["id"] for s in report["skipped"]} == {"clock", "backup", "peers"}, report["skipped"]
    assert report["ok"] and took < 15, took
    text = site.mailctl("diagnose").stdout
    assert "0 warning(s), 0 failed" in text and "not checked: no NTP server" in text, text


def test_a_wrong_dns_record_is_named(inet, site):
    inet._update([(site.domain, "@", "MX", "10 elsewhere.example.")], add=True)
    try:
        wait_until(lambda: inet.resolve(site.domain, "MX") == ["10 elsewhere.example."], timeout=70,
                   what="the wrong MX to be served")  # fmt: skip
        report, _ = diagnose(site)
        bad = not_ok(report)
        assert set(bad) == {"dns.records"}, bad
        assert bad["dns.records"]["status"] == "fail" and "MX" in bad["dns.records"]["detail"]
        assert "dns-setup" in bad["dns.records"]["hint"]
    finally:
        site.mailctl("dns-setup", "--force")  # the wrong MX is not ours: --force replaces it


def _in_container(site, *args: str, check: bool = True):
    return site.in_ns("lxc-attach", "-P", site.lxc_path, "-n", site.container, "--", *args, check=check)


def test_a_stopped_dovecot_is_named(site):
    _in_container(site, "doveadm", "stop")
    try:
        report, _ = diagnose(site)
        bad = not_ok(report)
        assert set(bad) == {f"port.{p}" for p in ("imap", "imaps", "pop3", "pop3s", "sieve")}, bad
        assert all("Dovecot" in c["detail"] and "mailctl restart" in c["hint"] for c in bad.values()), bad
    finally:
        _in_container(site, "sh", "-c", "dovecot </dev/null >/dev/null 2>&1")
        wait_until(lambda: not not_ok(diagnose(site)[0]), timeout=60, what="Dovecot back")


def test_an_expired_certificate_is_named(site):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    path = os.path.join(site.data, "ssl", "fullchain.pem")
    shutil.copy2(path, path + ".keep")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, site.fqdn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=100))
            .not_valid_after(now - dt.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(site.fqdn)]), critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    try:
        with open(path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        report, _ = diagnose(site)
        bad = not_ok(report)
        assert set(bad) == {"certificate"}, bad
        assert bad["certificate"]["status"] == "fail" and "expired" in bad["certificate"]["detail"]
        assert "ssl-renew" in bad["certificate"]["hint"]
    finally:
        os.replace(path + ".keep", path)
        # the services' processes started meanwhile hold the wrong certificate: let them go
        _in_container(site, "postfix", "reload")
        _in_container(site, "doveadm", "reload")


def test_a_full_disk_is_named(site):
    """The same appliance seen through a small tmpfs data_path (what the host-side checks read copied
    onto it, the queue bind-mounted), then filled up."""
    full, conf = os.path.join(site.workdir, "full"), os.path.join(site.workdir, "full-conf")
    os.makedirs(full)
    sh("mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", full)
    try:
        for name in ("config", "ssl", "dkim", "dns"):
            shutil.copytree(os.path.join(site.data, name), os.path.join(full, name), symlinks=True)
        os.makedirs(os.path.join(full, "spool"))
        sh("mount", "--bind", os.path.join(site.data, "spool"), os.path.join(full, "spool"))
        shutil.copytree(site.confdir, conf)
        site.mailctl("--confdir", conf, "config", "set", "mailserver.main.data_path", full)
        with open(os.path.join(full, "filler"), "wb") as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
        proc = site.mailctl("--confdir", conf, "--json", "diagnose", check=False, timeout=60)
        report = json.loads(proc.stdout)
        bad = not_ok(report)
        assert set(bad) == {"disk"}, bad
        assert bad["disk"]["status"] == "fail" and "100 % used" in bad["disk"]["detail"], bad
        assert full in bad["disk"]["hint"] and proc.returncode == 1
    finally:
        sh("umount", os.path.join(full, "spool"), check=False)
        sh("umount", full, check=False)
        shutil.rmtree(conf, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(full)


def test_blocked_outbound_port_25_is_named(inet, site):
    with inet.block_port25(site):
        report, _ = diagnose(site)
    bad = not_ok(report)
    assert set(bad) == {"outbound.port25"}, bad
    assert "block" in bad["outbound.port25"]["detail"] and "relay" in bad["outbound.port25"]["hint"]


def _queue(site) -> list[dict]:
    return json.loads(site.mailctl("--json", "queue", "list").stdout)


def test_a_message_stuck_in_the_queue_is_named(inet, site):
    with inet.block_port25(site):
        submit(site, site.user("alice"), inet.b.user("bob"))
        wait_until(lambda: any(m["queue"] == "deferred" for m in _queue(site)), timeout=90,
                   what="the message to be deferred")  # fmt: skip
    try:
        report, _ = diagnose(site)
        bad = not_ok(report)
        assert set(bad) == {"queue"}, bad
        assert bad["queue"]["status"] == "warn" and "1 deferred" in bad["queue"]["detail"]
        assert "mailctl queue" in bad["queue"]["hint"]
    finally:
        site.mailctl("queue", "delete-all")


def test_every_dns_server_unreachable_still_finishes_in_time(site):
    """The answers are dropped (not the queries: a local drop fails at once), so every server is silent."""
    rules = """table ip smi_nodns {
    chain answers {
        type filter hook input priority filter; policy accept;
        udp sport 53 drop
        tcp sport 53 drop
    }
}
"""
    sh("ip", "netns", "exec", site.netns, "nft", "-f", "-", input=rules)
    try:
        report, took = diagnose(site)
    finally:
        sh("ip", "netns", "exec", site.netns, "nft", "delete", "table", "ip", "smi_nodns", check=False)
    assert took < 15, took
    assert not_ok(report).keys() & {"dns.records", "dnsbl"}, report


def _metrics(site) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = site.mailctl("metrics").stdout
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def _fail_login(site) -> None:
    with (
        imaplib.IMAP4_SSL(site.wan_ip, 993, ssl_context=tls_context(), timeout=30) as imap,
        contextlib.suppress(imaplib.IMAP4.error),
    ):
        imap.login(site.user("alice"), "not the password")


def _charts(site) -> dict:
    return json.loads(site.mailctl("--json", "charts").stdout)


def test_metrics_count_messages_and_failed_logins_across_rotation_and_restart(site):
    from secumail.mail.logrotate import rotate

    before = _metrics(site)
    hours_before = _charts(site)["hours"]
    tokens = [submit(site, site.user("bob"), site.user("alice")) for _ in range(5)]
    _fail_login(site)
    for token in tokens:
        fetch(site, site.user("alice"), token)
    rootfs = os.path.join(site.lxc_path, site.container, "rootfs")

    class Executor:  # the rotation as the daemon does it: rename, then the writers reopen
        def exec(self, args):
            return _in_container(site, *args, check=False)

    assert rotate(rootfs, 1, Executor())  # behind the counters' back: the rest is read from mail.log.1
    site.mailctl("restart", timeout=300)  # Postfix and Dovecot start again
    tokens = [submit(site, site.user("bob"), site.user("alice")) for _ in range(5)]
    _fail_login(site)
    _fail_login(site)
    for token in tokens:
        fetch(site, site.user("alice"), token)
    after = _metrics(site)
    assert after["secumail_messages_received_total"] - before["secumail_messages_received_total"] == 10
    assert after["secumail_messages_sent_total"] - before["secumail_messages_sent_total"] == 10
    assert after["secumail_auth_failures_total"] - before["secumail_auth_failures_total"] == 3
    assert after["secumail_up"] == 1 and after["secumail_certificate_days_left"] > 0
    # LuCI's charts: the same counters per hour; the 10 messages are in this hour's bucket (or, when the
    # hour turned meanwhile, in the two buckets around the turn: compare the windows' common hours)
    hours_after = _charts(site)["hours"]
    same_hour = hours_after[-1]["start"] == hours_before[-1]["start"]
    if same_hour:
        now = {name: hours_after[-1][name] - (hours_before[-1][name] or 0) for name in ("received", "sent")}
        assert now == {"received": 10, "sent": 10}, (hours_before[-1], hours_after[-1])
    common = hours_before if same_hour else hours_before[1:]
    grew = {name: sum(h[name] or 0 for h in hours_after) - sum(h[name] or 0 for h in common)
            for name in ("received", "sent")}  # fmt: skip
    assert grew == {"received": 10, "sent": 10}, (hours_before[-2:], hours_after[-2:])
