"""ssl-setup / ssl-status / renewal against a real pebble and a real Knot (root)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import ssl
import stat
from pathlib import Path

import pytest

from tests.integration.certs import world
from tests.integration.certs.world import BLOCKED, EAB
from tests.support.argvscan import ArgvScanner
from tests.unit.certs.tlsserver import TlsService

pytestmark = pytest.mark.integration

CHALLENGE = "_acme-challenge.mail.example.test"


def verify_against_root(site, root_pem: bytes, tmp_path) -> None:
    """Serve the installed pair and connect as a client trusting only pebble's root: the chain must verify."""
    root = tmp_path / "pebble-root.pem"
    root.write_bytes(root_pem)
    service = TlsService(site.file("fullchain.pem"), site.file("privkey.pem"))
    try:
        context = ssl.create_default_context(cafile=str(root))
        raw = socket.create_connection((service.host, service.port), timeout=5)
        with context.wrap_socket(raw, server_hostname="mail.example.test") as tls:
            assert tls.getpeercert()["subject"]
    finally:
        service.close()


def test_ssl_setup_issues_a_certificate_that_chains_to_pebbles_root(site, servers, tmp_path):
    site.update(acme={"extra_names": ["autoconfig.example.test"]})
    result = site.mailctl("ssl-setup")
    assert result.returncode == 0, result.stderr
    assert "certificate for mail.example.test, autoconfig.example.test installed" in result.stdout
    verify_against_root(site, servers["pebble"].root_pem(), tmp_path)
    # key files 0600, the account key too; no challenge left in the zone
    assert stat.S_IMODE(os.stat(site.file("privkey.pem")).st_mode) == 0o600
    account_keys = [os.path.join(d, f) for d, _, fs in os.walk(site.file("acme")) for f in fs if f == "account.key"]
    assert len(account_keys) == 1
    assert stat.S_IMODE(os.stat(account_keys[0]).st_mode) == 0o600
    assert servers["knot"].txt(CHALLENGE) == []
    assert servers["knot"].txt("_acme-challenge.autoconfig.example.test") == []

    status = json.loads(site.mailctl("ssl-status", "--json", check=True).stdout)
    cert = status["certificate"]
    assert cert["sans"] == ["mail.example.test", "autoconfig.example.test"]
    assert cert["key_type"] == "ec256"
    assert "Pebble" in cert["issuer"]
    assert 0.9 < status["days_left"] <= 1.0  # pebble runs with one-day certificates here
    assert status["warning"] is True and status["last_error"] is None
    assert status["next_renewal"] < cert["not_after"]
    text = site.mailctl("ssl-status", check=True).stdout
    assert "WARNING: renew soon" in text and "key type:      ec256" in text

    # a second ssl-setup keeps the account (one account key) and, without --force, the certificate
    first = site.read("fullchain.pem")
    again = site.mailctl("ssl-setup")
    assert again.returncode == 0, again.stderr
    assert "not due for renewal (use --force to renew now)" in again.stdout
    assert site.read("fullchain.pem") == first
    forced = site.mailctl("ssl-setup", "--force")
    assert forced.returncode == 0, forced.stderr
    assert site.read("fullchain.pem") != first
    assert len([f for d, _, fs in os.walk(site.file("acme")) for f in fs if f == "account.key"]) == 1


def test_rsa2048_and_unchanged_without_force(servers, tmp_path):
    from tests.integration.certs.site import Site

    site = Site(str(tmp_path), servers, acme={"key_type": "rsa2048"})
    assert site.mailctl("ssl-setup").returncode == 0
    status = json.loads(site.mailctl("ssl-status", "--json", check=True).stdout)
    assert status["certificate"]["key_type"] == "rsa2048"


def test_no_key_material_in_argv_or_logs(site, servers):
    """Scan /proc/*/cmdline while ssl-setup runs, then the debug log, for keys and the TSIG secret."""
    with ArgvScanner() as scanner:
        result = site.mailctl("--debug", "ssl-setup", "--force")
    assert result.returncode == 0, result.stderr
    assert scanner.ran("secumail.certs.worker"), "the scan did not see the worker run"
    secrets = [servers["knot"].secret.encode()]
    for name in ("privkey.pem",):
        body = site.read(name).decode()
        secrets += [line.encode() for line in body.splitlines() if line and "PRIVATE KEY" not in line]
    account = [os.path.join(d, f) for d, _, fs in os.walk(site.file("acme")) for f in fs if f == "account.key"]
    with open(account[0]) as handle:
        secrets += [line.encode() for line in handle.read().splitlines() if "PRIVATE KEY" not in line]
    log = (result.stdout + result.stderr).encode()
    assert b"worker:" in log  # --debug really logged the worker's lines
    for secret in secrets:
        assert scanner.holding(secret) == []
        assert secret not in log
    assert b"PRIVATE KEY" not in log


def test_renewal_job_replaces_the_certificate_and_services_serve_it(site, servers):
    from secumail.certs import renewal, runner
    from secumail.certs.der import leaf_validity
    from secumail.certs.services import Target

    assert site.mailctl("ssl-setup").returncode == 0
    settings = site.settings
    old = leaf_validity(site.file("fullchain.pem"))
    smtps = TlsService(site.file("fullchain.pem"), site.file("privkey.pem"))
    submission = TlsService(site.file("fullchain.pem"), site.file("privkey.pem"), starttls="smtp")
    imaps = TlsService(site.file("fullchain.pem"), site.file("privkey.pem"))
    services = [smtps, submission, imaps]
    targets = [
        Target("smtps", smtps.host, smtps.port),
        Target("submission", submission.host, submission.port, "smtp"),
        Target("imaps", imaps.host, imaps.port),
    ]

    def reload() -> None:
        for service in services:
            service.reload()

    def obtain(s):
        return runner.obtain(s, reload=reload, targets=targets)

    try:
        # clock shift: the policy's "now" is before the renewal moment, then after it
        early = renewal.renew_if_due(settings, old.not_before + dt.timedelta(minutes=10), obtain=obtain)
        assert (
            early.action == "none" and site.read("fullchain.pem") and leaf_validity(site.file("fullchain.pem")) == old
        )
        late = renewal.renew_if_due(settings, old.not_before + old.lifetime * 0.9, obtain=obtain)
        assert late.action == "renewed", late
        new = leaf_validity(site.file("fullchain.pem"))
        assert new.serial != old.serial
        assert all(service.reloads == 1 for service in services)
        from secumail.certs.services import fetch_peer_cert

        served = {fetch_peer_cert(t.host, t.port, starttls=t.starttls) for t in targets}
        assert len(served) == 1
    finally:
        for service in services:
            service.close()


def _assert_failed_cleanly(site, servers, result, pattern: str, before: bytes) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert site.read("fullchain.pem") == before  # the old certificate is untouched
    assert servers["knot"].txt(CHALLENGE) == []
    status = json.loads(site.mailctl("ssl-status", "--json", check=True).stdout)
    assert status["last_error"] and status["failures"] >= 1


def test_failure_dns_update_refused(site, servers):
    assert site.mailctl("ssl-setup").returncode == 0
    before = site.read("fullchain.pem")
    with open(site.credentials, "w") as handle:
        handle.write("[rfc2136]\nkey_name=secumail-test\nkey_secret=" + "A" * 43 + "=\n")
    result = site.mailctl("ssl-setup", "--force")
    _assert_failed_cleanly(
        site,
        servers,
        result,
        r"cannot set the challenge TXT _acme-challenge\.mail\.example\.test: .*rejected the TSIG signature",
        before,
    )


def test_failure_ca_unreachable(site, servers):
    assert site.mailctl("ssl-setup").returncode == 0
    before = site.read("fullchain.pem")
    site.update(acme={"directory": "https://127.0.61.9:14000/dir"})
    result = site.mailctl("ssl-setup", "--force")
    _assert_failed_cleanly(
        site, servers, result, r"^mailctl: cannot reach the ACME CA at https://127\.0\.61\.9", before
    )


def test_failure_ca_rejects_the_order(site, servers):
    assert site.mailctl("ssl-setup").returncode == 0
    before = site.read("fullchain.pem")
    site.update(acme={"extra_names": [BLOCKED]})
    result = site.mailctl("ssl-setup", "--force")
    _assert_failed_cleanly(site, servers, result, r"the ACME CA rejected the request: .*blocked", before)


def test_failure_after_txt_was_set_removes_it(site, servers):
    """A second authoritative server that never answers: propagation fails, the TXT is removed anyway."""
    import dns.query
    import dns.tsigkeyring
    import dns.update

    assert site.mailctl("ssl-setup").returncode == 0
    before = site.read("fullchain.pem")
    keyring = dns.tsigkeyring.from_text({world.TSIG_NAME: servers["knot"].secret})

    def change(action: str) -> None:
        update = dns.update.UpdateMessage(world.ZONE, keyring=keyring, keyalgorithm="hmac-sha256")
        getattr(update, action)("@", 60, "NS", "ns2.example.test.") if action == "add" else update.delete(
            "@", "NS", "ns2.example.test."
        )
        getattr(update, action)("ns2", 60, "A", "127.0.61.9") if action == "add" else update.delete("ns2")
        assert dns.query.tcp(update, world.DNS_ADDR, timeout=5).rcode() == 0

    change("add")
    try:
        site.update(dns={"timeout": "1"})
        result = site.mailctl("ssl-setup", "--force")
    finally:
        change("delete")
    _assert_failed_cleanly(site, servers, result, r"did not appear on the authoritative server 127\.0\.61\.9", before)


def test_eab_account_binding(servers, tmp_path):
    from tests.integration.certs.site import Site

    pebble = servers["eab_pebble"]
    hmac_file = tmp_path / "eab.secret"
    fd = os.open(hmac_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, EAB["kid-1"].encode() + b"\n")
    os.close(fd)
    site = Site(
        str(tmp_path),
        servers,
        acme={
            "directory": pebble.directory,
            "ca_bundle": pebble.ca_file,
            "eab_kid": "kid-1",
            "eab_hmac_file": str(hmac_file),
        },
    )
    os.chmod(hmac_file, 0o644)
    refused = site.mailctl("ssl-setup")
    assert refused.returncode == 1 and "readable by others: run 'chmod 600" in refused.stderr
    os.chmod(hmac_file, 0o600)
    ok = site.mailctl("ssl-setup")
    assert ok.returncode == 0, ok.stderr


def test_worker_keeps_heavy_imports_out_of_the_parent(site):
    """The resident side runs obtain() and stays free of acme/josepy/cryptography/requests."""
    import subprocess
    import sys

    from tests.support.paths import REPO

    code = (
        "import sys, resource\n"
        "from secumail.config import load_settings\n"
        "from secumail.certs import renewal, runner\n"
        f"s = load_settings({site.confdir!r}, {site.root + '/save'!r})\n"
        "runner.obtain(s, reload=None)\n"
        "heavy = [m for m in ('acme', 'josepy', 'cryptography', 'requests', 'dns') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ca_that_forgot_the_account_gets_a_new_registration(servers, tmp_path):
    """A pebble restart loses every account: the next ssl-setup registers again instead of failing."""
    from tests.integration.certs.site import Site

    def start():
        return world.start_pebble(
            str(tmp_path / "pebble"), f"{world.DNS_ADDR}:53", port=14002, mgmt_port=15002, validity=86400
        )

    pebble = start()
    try:
        site = Site(str(tmp_path / "site"), servers, acme={"directory": pebble.directory, "ca_bundle": pebble.ca_file})
        first = site.mailctl("ssl-setup")
        assert first.returncode == 0, first.stderr
        account = [os.path.join(d, f) for d, _, fs in os.walk(site.file("acme")) for f in fs if f == "account.json"]
        before = Path(account[0]).read_text()
        pebble.stop()
        pebble = start()  # same address, same listener CA file; no accounts any more
        again = site.mailctl("ssl-setup", "--force")
        assert again.returncode == 0, again.stderr
        assert "installed" in again.stdout
        assert Path(account[0]).read_text() != before  # the new account's URI is saved
        assert [f for d, _, fs in os.walk(site.file("acme")) for f in fs if f == "account.key"] == ["account.key"]
        verify_against_root(site, pebble.root_pem(), tmp_path)
    finally:
        pebble.stop()
