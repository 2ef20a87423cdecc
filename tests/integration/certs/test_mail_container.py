"""Certificates end to end with a REAL mail container: ssl-setup, the daemon's renewal job, failures.

World: the `mailsite` of conftest.py (tests/integration/certs/mailsite.py): the session's Knot (zone
example.test, TSIG updates) and pebble, plus our own LXC container running Postfix + Dovecot.
mailctl runs as a user runs it, against a UCI file whose container section points at that container, so the
reload under test is the production one (the live config generation's
container/reload, through Container.exec).

What a mail client sees is checked on the wire: the certificate served on
465 (implicit TLS), 587 (STARTTLS) and 993 (implicit TLS) is compared in DER
with data_path/ssl/fullchain.pem, and a client that trusts only pebble's root
verifies the chain and the host name.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import time

import pytest

from tests.integration.certs.mailsite import FQDN, SUBNET
from tests.integration.certs.world import BLOCKED
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

CHALLENGE = f"_acme-challenge.{FQDN}"


@pytest.fixture
def restore_uci(mailsite, servers):
    """Failure tests break the UCI config or the TSIG secret; put both back afterwards."""
    saved = json.loads(json.dumps(mailsite.options))
    yield mailsite
    mailsite.options = saved
    mailsite.update()
    servers["knot"].credentials_file(mailsite.credentials)


def installed_leaf(site) -> bytes:
    from secumail.certs.der import pem_certificates

    return pem_certificates(site.read("fullchain.pem"))[0]


def served(site) -> dict[str, bytes]:
    """DER of the certificate each TLS port of the container presents now (465, 587 STARTTLS, 993)."""
    from secumail.certs.services import default_targets, fetch_peer_cert

    targets = default_targets(site.settings)
    assert [(t.name, t.port, t.starttls) for t in targets] == [
        ("smtps", 465, None),
        ("submission", 587, "smtp"),
        ("imaps", 993, None),
    ]
    assert {t.host for t in targets} == {f"{SUBNET}.2"}

    def fetch(t) -> bytes:  # a handshake that timed out on a loaded machine is tried again (never a wrong cert)
        return wait_until(lambda: fetch_peer_cert(t.host, t.port, starttls=t.starttls, server_name=FQDN),
                          timeout=30, interval=1, what=f"a TLS handshake on {t.name}")  # fmt: skip

    return {t.name: fetch(t) for t in targets}


def verify_chain(site, servers, tmp_path, port: int) -> dict:
    """Connect to the container's `port` trusting only pebble's root; hostname checked."""
    root = tmp_path / "pebble-root.pem"
    root.write_bytes(servers["pebble"].root_pem())
    context = ssl.create_default_context(cafile=str(root))
    with (
        socket.create_connection((f"{SUBNET}.2", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=FQDN) as tls,
    ):
        return tls.getpeercert()


def main_cf_inode(site) -> int:
    """/etc/postfix/main.cf in the container: the live reload script replaces it (new inode) every run."""
    return os.stat(os.path.join(site.lxc.rootfs, "etc/postfix/main.cf")).st_ino


def dovecot_master_pid(site) -> str:
    return site.lxc.container.exec(["cat", "/run/dovecot/master.pid"], check=True).stdout.strip()  # /run: tmpfs


def test_ssl_setup_installs_a_certificate_that_postfix_and_dovecot_serve(mailsite, servers, tmp_path):
    site = mailsite
    selfsigned = installed_leaf(site)
    assert set(served(site).values()) == {selfsigned}  # the world starts like `mailctl install`
    inode, dovecot_pid = main_cf_inode(site), dovecot_master_pid(site)

    result = site.mailctl("ssl-setup")

    assert result.returncode == 0, result.stderr
    assert f"certificate for {FQDN} installed" in result.stdout
    assert "services: reloaded; the new certificate is served" in result.stdout
    new = installed_leaf(site)
    assert new != selfsigned
    # right after the command returned, with no waiting of our own: every port serves exactly it
    assert served(site) == {"smtps": new, "submission": new, "imaps": new}
    for port in (465, 993):
        cert = verify_chain(site, servers, tmp_path, port)
        assert ("DNS", FQDN) in cert["subjectAltName"]
    # the production reload ran: the live generation's reload script (new main.cf), Dovecot reloaded
    # (same master process: a reload, not a restart)
    assert main_cf_inode(site) != inode
    assert dovecot_master_pid(site) == dovecot_pid
    assert servers["knot"].txt(CHALLENGE) == []


def test_the_daemons_renewal_job_replaces_the_certificate_and_the_services_serve_it(mailsite, servers, tmp_path):
    """The ssl-renew job as secumaild runs it; time passes by moving the chosen moment."""
    from secumail.certs.state import load_state, save_state
    from secumail.daemon.jobtasks import TaskContext, run_operation

    site = mailsite
    if site.mailctl("ssl-status", "--json").returncode != 0 or "Pebble" not in site.mailctl("ssl-status").stdout:
        assert site.mailctl("ssl-setup").returncode == 0
    old = installed_leaf(site)

    def job() -> dict:
        ctx = TaskContext("ssl-renew", {}, site.confdir, None, lambda *_: None)
        ctx._settings = site.settings
        return run_operation(ctx)

    early = job()
    assert early["action"] == "none" and early["message"] == "not due yet", early
    assert installed_leaf(site) == old

    # the renewal moment chosen at issuance (2/3 of the lifetime minus jitter) has come
    path = site.file("state.json")
    state = load_state(path)
    assert state.renew_at is not None
    from datetime import datetime, timedelta, timezone

    state.renew_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    save_state(path, state)

    late = job()

    assert late["action"] == "renewed", late
    new = installed_leaf(site)
    assert new != old
    assert served(site) == {"smtps": new, "submission": new, "imaps": new}
    verify_chain(site, servers, tmp_path, 993)
    status = json.loads(site.mailctl("ssl-status", "--json", check=True).stdout)
    assert status["last_error"] is None and status["failures"] == 0
    assert status["next_renewal"] > status["last_success"]
    assert servers["knot"].txt(CHALLENGE) == []


def _break_dns(site, servers) -> None:
    with open(site.credentials, "w") as handle:  # a TSIG secret Knot does not know
        handle.write("[rfc2136]\nkey_name=secumail-test\nkey_secret=" + "A" * 43 + "=\n")


def _ca_unreachable(site, servers) -> None:
    site.update(acme={"directory": "https://127.0.61.9:14000/dir"})


def _ca_rejects(site, servers) -> None:
    site.update(acme={"extra_names": [BLOCKED]})


FAILURES = {
    "dns-update-refused": (
        _break_dns,
        r"cannot set the challenge TXT _acme-challenge\.mail\.example\.test: .*rejected the TSIG signature",
    ),
    "ca-unreachable": (_ca_unreachable, r"cannot reach the ACME CA at https://127\.0\.61\.9"),
    "ca-rejects-the-order": (_ca_rejects, r"the ACME CA rejected the request: .*blocked"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failure_keeps_the_old_certificate_served(restore_uci, servers, case):
    site = restore_uci
    if "Pebble" not in site.mailctl("ssl-status").stdout:
        assert site.mailctl("ssl-setup").returncode == 0
    before_file = site.read("fullchain.pem")
    before = installed_leaf(site)
    assert set(served(site).values()) == {before}
    inode = main_cf_inode(site)
    breaker, pattern = FAILURES[case]
    breaker(site, servers)

    started = time.monotonic()
    result = site.mailctl("ssl-setup", "--force")
    took = time.monotonic() - started

    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mailctl: ") and re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert took < 60, f"the failure took {took:.1f} s"
    # nothing changed for a mail client: same files, same certificate on every port, no reload
    assert site.read("fullchain.pem") == before_file
    assert served(site) == {"smtps": before, "submission": before, "imaps": before}
    assert main_cf_inode(site) == inode
    assert servers["knot"].txt(CHALLENGE) == []
    # and the error is there for the user, in ssl-status and in mailctl status
    error = lines[0].removeprefix("mailctl: ")
    status = json.loads(site.mailctl("ssl-status", "--json", check=True).stdout)
    assert status["last_error"] == error and status["failures"] >= 1
    overall = json.loads(site.mailctl("--json", "status", check=True).stdout)["certificate"]
    assert overall["last_error"] == error
    assert overall["warn"] is True  # pebble issues one-day certificates here: < 14 days left
    assert overall["next_renewal"] is not None
    text = site.mailctl("status", check=True).stdout
    cert_line = next(line for line in text.splitlines() if line.startswith("Certificate:"))
    assert "WARNING: fewer than 14 days left" in cert_line and f"last renewal failed: {error}" in cert_line


def test_a_stopped_container_is_not_an_error_and_gets_the_certificate_on_start(mailsite):
    """ssl-setup with the container down installs the files; the next start serves them."""
    site = mailsite
    container = site.lxc.container
    container.stop()
    try:
        result = site.mailctl("ssl-setup", "--force")
        assert result.returncode == 0, result.stderr
        assert "services: not running: they will read the new certificate when they start" in result.stdout
    finally:
        container.start()
    new = installed_leaf(site)
    site.lxc.wait_port(25, timeout=30)
    deadline = time.monotonic() + 30
    last: object = None
    while True:
        try:
            last = served(site)
            if last == {"smtps": new, "submission": new, "imaps": new}:
                break
        except (OSError, ssl.SSLError) as exc:
            last = exc
        assert time.monotonic() < deadline, f"the services did not come back with the new certificate: {last}"
        time.sleep(0.2)


def test_openwrt_acme_hotplug_hook_hands_a_renewed_certificate_to_the_services(restore_uci, tmp_path):
    """ssl.type openwrt-acme: OpenWrt's acme writes <fqdn>.fullchain.crt/.key and fires the hotplug
    event; the shipped hook (sourced as hotplug-call does) runs mailctl ssl-setup, the services serve it."""
    import subprocess
    import sys

    from secumail.certs.der import pem_certificates
    from secumail.certs.sources import selfsigned
    from tests.support.paths import REPO

    site = restore_uci
    out = tmp_path / "etc-ssl-acme"
    out.mkdir()
    site.update(ssl={"type": "openwrt-acme"}, acme={"openwrt_dir": str(out)})

    def acme_renews() -> bytes:
        chain, key = selfsigned(site.settings)  # stands in for what acme.sh wrote
        (out / f"{FQDN}.fullchain.crt").write_bytes(chain)
        (out / f"{FQDN}.key").write_bytes(key)
        return pem_certificates(chain)[0]

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "uci": "[ \"$*\" = '-q get mailserver.ssl.type' ] && echo openwrt-acme\n",
        "mailctl": f"PYTHONPATH={REPO} exec {sys.executable} -m secumail.cli --confdir {site.confdir} \"$@\"\n",
        "logger": f"echo \"$*\" >> {tmp_path}/syslog\n",
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    hook = os.path.join(REPO, "files/etc/hotplug.d/acme/50-secumail")

    def hotplug(action: str) -> str:
        env = {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", "ACTION": action}
        subprocess.run(["sh", "-c", f'( . "{hook}" )'], env=env, check=True, timeout=120)
        return (tmp_path / "syslog").read_text().splitlines()[-1]

    for action in ("issued", "renewed"):
        leaf = acme_renews()
        line = hotplug(action)
        assert line.startswith(f"-t secumail -p mail.info acme {action}: certificate for {FQDN} installed"), line
        assert installed_leaf(site) == leaf
        assert served(site) == {"smtps": leaf, "submission": leaf, "imaps": leaf}
    # the same event again with an unchanged file: nothing to do, said in one line
    line = hotplug("renewed")
    assert "OpenWrt's acme certificate is unchanged and already installed" in line
