"""`mailctl setup --answers FILE` on an unconfigured appliance, against the session's Knot and pebble:
a wrong DNS key fails its step (earlier steps kept, nothing saved), the corrected file resumes, and the
run ends with a real container, a certificate from pebble and a message in the new mailbox."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.integration.certs import world
from tests.integration.service.appliance import Appliance, appliance_world

pytestmark = pytest.mark.integration

APPLIANCE = Appliance("/var/tmp/secumail-setup-test", "smsetup", "smsetup0", "10.226.0", domain="example.com")
mailctl = APPLIANCE.mailctl
ADDRESS = f"alice@{world.ZONE}"


def answers_text(servers: dict, *, key_secret: str) -> str:
    knot, pebble = servers["knot"], servers["pebble"]
    return f"""
[identity]
domain = {world.ZONE}
hostname = mail

[dns]
provider = rfc2136
server = {world.DNS_ADDR}
zone = {world.ZONE}
timeout = 2
public_ipv4 = 127.0.61.3
autoconfig = 0
credentials = {APPLIANCE.work}/dns.secret
key_name = {knot.tsig_name}
key_secret = {key_secret}

[certificate]
type = acme
directory = {pebble.directory}
ca_bundle = {pebble.ca_file}

[mailbox]
address = {ADDRESS}
password = Wizard-made pass 1
"""


def _write(path: str, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def appliance(servers):
    servers["knot"].restart_fresh()  # the session's zone without records another test's key published
    try:
        with appliance_world(APPLIANCE) as world_:
            yield world_
    finally:
        servers["knot"].restart_fresh()  # and without ours, for the next test of the session


def test_setup_from_answers_resumes_after_a_failed_step_and_ends_with_mail_delivered(appliance, servers):
    answers = f"{APPLIANCE.work}/answers.ini"
    _write(answers, answers_text(servers, key_secret="d3JvbmcgZG5zIGtleSBzZWNyZXQ="))  # "wrong dns key secret"
    failed = mailctl("setup", "--answers", answers, check=False)
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1].startswith("mailctl: rfc2136: ")
    assert "BADSIG" in failed.stderr.splitlines()[-1] or "BADKEY" in failed.stderr.splitlines()[-1]
    status = json.loads(mailctl("--json", "setup", "--status").stdout)
    rows = {row["step"]: row for row in status["steps"]}
    assert rows["identity"]["status"] == "done" and rows["dns"]["status"] == "failed" and status["next"] == "dns"
    assert "TSIG" in rows["dns"]["reason"]
    assert not os.path.exists(f"{APPLIANCE.work}/dns.secret")  # a failed test saves no credentials
    with open(f"{APPLIANCE.work}/config/mailserver") as handle:
        assert "rfc2136" not in handle.read()  # nor the provider's settings

    _write(answers, answers_text(servers, key_secret=servers["knot"].secret))
    started = time.monotonic()
    done = mailctl("--json", "setup", "--answers", answers, timeout=1200)
    seconds = time.monotonic() - started
    result = json.loads(done.stdout)
    assert result["complete"] and all(row["status"] == "done" for row in result["steps"]), result
    assert "step 2/8: DNS provider and credentials test" in done.stderr  # resumed at the failed step
    assert "step 1/8" not in done.stderr
    client = result["client"]
    assert client["host"] == f"mail.{world.ZONE}" and client["address"] == ADDRESS
    assert client["profile_url"].startswith(f"https://autoconfig.{world.ZONE}/profile/")
    assert os.stat(f"{APPLIANCE.work}/dns.secret").st_mode & 0o077 == 0

    cert = json.loads(mailctl("--json", "ssl-status").stdout)
    assert "Pebble" in cert["certificate"]["issuer"] and f"mail.{world.ZONE}" in cert["certificate"]["sans"]
    sent = json.loads(mailctl("--json", "test", ADDRESS).stdout)
    assert sent["status"] == "sent", sent
    maildir = f"{APPLIANCE.data}/mail/{world.ZONE}/alice/new"
    assert len(os.listdir(maildir)) == 1
    print(f"\nsetup --answers from the DNS step to a complete setup: {seconds:.1f} s")

    again = mailctl("--json", "setup", "--answers", answers)
    assert json.loads(again.stdout)["complete"] and "step " not in again.stderr  # nothing left to do
