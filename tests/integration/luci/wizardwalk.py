"""Headless Chromium walks the LuCI setup wizard on an unconfigured appliance, against the session's Knot
(RFC 2136) and pebble (ACME), and ends with a message received by the new mailbox.

Used by tests/integration/luci/test_setup_wizard.py and bench/setup_wizard.py (which writes the time
from the first page to the message into bench/RESULTS.md). The appliance's UCI file holds only where its
data and container live, plus what stands in for this test network's WAN (the A record's address, where
the DNS secrets are kept, a short DNS timeout): no domain, no provider, no certificate source.
"""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.integration.certs import world as certworld
from tests.integration.luci.world import World
from tests.support import owu
from tests.support.wait import wait_until

WORK = "/var/tmp/secumail-luci-wizard"
RUNDIR = f"{WORK}/owu"
WORLD = World(work=WORK, name="smwiz", bridge="smwiz0", subnet="10.225.0", domain=certworld.ZONE,
              confdir=f"{RUNDIR}/etc/config")  # fmt: skip
PORT = 18183
BASE = f"http://127.0.0.1:{PORT}"
ADMIN_PW = f"admin-{uuid.uuid4().hex[:10]}"
ADDRESS = f"alice@{certworld.ZONE}"
MAILBOX_PW = f"Wizard {uuid.uuid4().hex[:8]}"
INSTALL_TIMEOUT = 1200  # the first image build on a machine; later ones come from the shared cache


def unconfigured_uci() -> str:
    return f"""
config mailserver 'main'
	option data_path '{WORK}/data'
	option container '{WORLD.name}'

config dkim 'dkim'
	option key_bits '1024'

config container 'container'
	option lxc_path '{WORK}/lxc'
	option bridge '{WORLD.bridge}'
	option host_address '{WORLD.subnet}.1/24'
	option address '{WORLD.ip}/24'

config dns 'dns'
	option public_ipv4 '127.0.61.3'
	option timeout '2'
	option autoconfig '0'
	option credentials '{WORK}/dns.secret'
"""


def daemon_pid() -> int | None:
    try:
        with open(f"{WORK}/run/secumaild.pid") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def luci_world() -> Iterator[None]:
    """LuCI with the app, the unconfigured appliance's UCI file; on exit secumaild, LuCI and the container gone."""
    owu.stop()
    WORLD.teardown()
    os.makedirs(WORLD.confdir)
    try:
        owu.build(f"{WORK}/owu-build.log")
        owu.install_app()
        with open(os.path.join(WORLD.confdir, "mailserver"), "w") as handle:
            handle.write(unconfigured_uci())
        owu.start(RUNDIR, port=PORT, root_password=ADMIN_PW, env=WORLD.env())
        yield
    finally:
        owu.stop()
        pid = daemon_pid()  # the agent the wizard started: gone before the container, or it restarts it
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30, what="secumaild to exit")
        WORLD.teardown()


@dataclass
class Walk:
    """What the walk saw: seconds per step from the first page, and the client page."""

    marks: dict[str, float] = field(default_factory=dict)
    failed_reason: str = ""
    plan_text: str = ""
    progress_seen: bool = False
    profile_url: str = ""
    qr_png: bytes = b""
    client_text: str = ""


def _set(b, element_id: str, value: str) -> None:
    found = b.js("var e = document.getElementById(arguments[0]); if (e) { e.value = arguments[1]; } return !!e;",
                 element_id, value)  # fmt: skip
    assert found, f"no field {element_id}: {b.text('#view')[:800]}"


def _click(b, label: str) -> None:
    found = b.js("var label = arguments[0]; var e = Array.from(document.querySelectorAll('#view button, #view a'))"
                 ".filter(function(e) { return e.innerText.trim() == label; })[0]; if (e) e.click(); return !!e;",
                 label)  # fmt: skip
    assert found, f"no button {label!r} on: {b.text('#view')[:800]}"


def _step(b) -> str:
    return b.js("var e = document.getElementById('ms-setup-step'); return e ? e.getAttribute('data-step') : '';")


def _wait_step(b, name: str, timeout: float, walk: Walk | None = None, *, fail_fast: bool = False) -> None:
    """Wait until the wizard shows step `name`; with fail_fast, a failed step ends the wait at once
    (with its reason) instead of after a long step's whole timeout."""

    def there() -> bool:
        if walk is not None and b.js("return document.querySelectorAll('#ms-setup-work .cbi-progressbar').length"):
            walk.progress_seen = True
        if _step(b) == name:
            return True
        reason = b.js("var e = document.querySelector('.ms-setup-reason'); return e ? e.innerText : '';")
        assert not (fail_fast and reason), f"the wizard did not reach step {name}: {reason}"
        return False

    b.wait(f"the wizard at step {name}", there, timeout=timeout)


def walk(b, servers: dict) -> Walk:
    """Walk every page of the wizard; the marks are seconds since the first page was asked for."""
    out = Walk()
    knot, pebble = servers["knot"], servers["pebble"]
    start = time.monotonic()

    def mark(name: str) -> None:
        out.marks[name] = round(time.monotonic() - start, 1)

    b.get(f"{BASE}/owu-login.html#root:{ADMIN_PW}:/cgi-bin/luci/admin/services/mailserver/overview")
    b.wait("Overview pointing to the setup", lambda: "not set up yet" in b.text("#view"), timeout=60)
    _click(b, "Start the setup")
    b.wait("the wizard's first step", lambda: _step(b) == "identity", timeout=60)
    mark("wizard open")
    _set(b, "ms-setup-domain", certworld.ZONE)
    _set(b, "ms-setup-hostname", "mail")
    _click(b, "Next")
    _wait_step(b, "dns", 60)
    # a wrong TSIG secret first: the step fails with what to fix, the domain stays done, nothing is saved
    _set(b, "ms-setup-provider", "rfc2136")
    _set(b, "ms-setup-server", certworld.DNS_ADDR)
    _set(b, "ms-setup-zone", certworld.ZONE)
    _set(b, "ms-setup-credentials", f"key_name={knot.tsig_name} key_secret=d3Jvbmcgc2VjcmV0IGtleQ==")
    _click(b, "Test and save")
    out.failed_reason = b.wait("the failed credentials test", lambda: b.js(
        "var e = document.querySelector('.ms-setup-reason'); return e ? e.innerText : '';"), timeout=60)  # fmt: skip
    _wait_step(b, "dns", 10)
    _set(b, "ms-setup-provider", "rfc2136")
    _set(b, "ms-setup-server", certworld.DNS_ADDR)
    _set(b, "ms-setup-zone", certworld.ZONE)
    _set(b, "ms-setup-credentials", f"key_name={knot.tsig_name} key_secret={knot.secret}")
    _click(b, "Test and save")
    _wait_step(b, "plan", 60)
    mark("DNS provider tested")
    _click(b, "Show the DNS plan")
    _wait_step(b, "records", 120)
    out.plan_text = b.wait("the plan", lambda: "nothing has been changed yet" in b.text("#ms-setup-work")
                           and b.text("#ms-setup-work"), timeout=30)  # fmt: skip
    _click(b, "Apply the DNS plan")
    _wait_step(b, "install", 180, out)
    mark("DNS records published")
    _click(b, "Install")
    _wait_step(b, "certificate", INSTALL_TIMEOUT, out, fail_fast=True)
    mark("container installed")
    _set(b, "ms-setup-ssl-type", "acme")
    _set(b, "ms-setup-acme-directory", pebble.directory)
    _set(b, "ms-setup-acme-ca", pebble.ca_file)
    _click(b, "Get the certificate")
    _wait_step(b, "mailbox", 300, out, fail_fast=True)
    mark("certificate issued")
    _set(b, "ms-setup-address", ADDRESS)
    _set(b, "ms-setup-password", MAILBOX_PW)
    _set(b, "ms-setup-password2", MAILBOX_PW)
    _click(b, "Create the mailbox")
    _wait_step(b, "finish", 120, fail_fast=True)
    _click(b, "Show the client settings")
    b.wait("the client page", lambda: b.js("return !!document.getElementById('ms-setup-qr')"), timeout=60)
    mark("client page")
    out.client_text = b.text("#ms-setup-client")
    out.profile_url = b.text("#ms-setup-profile")
    out.qr_png = b.driver.find_element("id", "ms-setup-qr").screenshot_as_png
    _send_and_receive(out, start)
    return out


def _send_and_receive(out: Walk, start: float) -> None:
    """A message from outside to the new mailbox over SMTP, until it is in the mailbox (IMAP-visible Maildir)."""
    subject = f"wizard {uuid.uuid4().hex[:8]}"
    with smtplib.SMTP(WORLD.ip, 25, local_hostname="client.outside.test", timeout=30) as smtp:
        smtp.sendmail("someone@outside.test", [ADDRESS],
                      f"From: someone@outside.test\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n\r\nhello\r\n")
    maildir = f"{WORK}/data/mail/{certworld.ZONE}/alice/new"

    def received() -> bool:
        with contextlib.suppress(OSError):
            for name in os.listdir(maildir):
                with open(os.path.join(maildir, name), errors="replace") as handle:
                    if subject in handle.read():
                        return True
        return False

    try:
        wait_until(received, timeout=60, what="the message in the new mailbox")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the container's mail logs end with:\n{_log_tails()}") from None
    out.marks["message received"] = round(time.monotonic() - start, 1)


def _log_tails(lines: int = 25) -> str:
    rootfs = f"{WORK}/lxc/{WORLD.name}/rootfs"
    tails = []
    for log in ("var/log/mail.log", "var/log/dovecot.log"):
        with contextlib.suppress(OSError), open(os.path.join(rootfs, log), errors="replace") as handle:
            tails.append(f"== {log}\n" + "".join(handle.readlines()[-lines:]))
    return "\n".join(tails) or "(no log)"


def decode_qr(png: bytes, work: str) -> str:
    """What zbarimg (Debian's zbar-tools) reads in the QR code's screenshot."""
    path = os.path.join(work, "qr.png")
    with open(path, "wb") as handle:
        handle.write(png)
    out = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()
