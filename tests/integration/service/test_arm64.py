"""The appliance with `container.arch arm64` on this x86 host (issue 16): the image built by debootstrap
in two stages under qemu-user-static, the container run under binfmt_misc, the config checked by the
arm64 tools, a message in over SMTP and out over IMAPS, a submission signed by the arm64 OpenDKIM, and
the image built for a router and imported as the router would.

Mail from outside takes the light path (features.spam_filter 0, no sender checks): what runs under
emulation is the mail layer; the filter's own world (tests/integration/protection) needs DNS answers
this world has none of. The first run on a machine builds the arm64 image (bench/RESULTS.md: 8-11 min
on the 2-core test PC), later ones unpack it from the image cache (keyed by architecture): ~40 s.
"""

from __future__ import annotations

import json
import smtplib
import subprocess

import pytest

from secumail.container import binfmt
from tests.integration.mail.client import HELO, make_message, send25
from tests.integration.service.appliance import Appliance, appliance_world
from tests.support.imapclient import imap_wait, tls_context

pytestmark = pytest.mark.integration

LIGHT_PATH = "\nconfig features 'features'\n\toption spam_filter '0'\n\toption sender_checks '0'\n"
# Every emulated process carries qemu's translator and its code cache (~20-40 MiB each): in the 256 MiB of
# container.memory auto the kernel OOM-kills lmtp and imap-login, and a login ends in EOF.
EMULATED_MEMORY_MB = 1024
ARM64 = Appliance("/var/tmp/secumail-arm64-test", "smarm", "smarm0", "10.233.0", domain="arm64.test", arch="arm64",
                  memory_mb=EMULATED_MEMORY_MB, uci=LIGHT_PATH)  # fmt: skip
PASSWORDS = {"alice@arm64.test": "alice-arm64-pass", "bob@arm64.test": "bob-arm64-pass"}
BUILD_TIMEOUT = 3 * 3600  # a cold image cache: debootstrap and every maintainer script under emulation
EMULATED_TIMEOUT = 120  # one mail through Postfix, OpenDKIM, Dovecot running ~10x slower


@pytest.fixture(scope="module")
def arm64():
    with appliance_world(ARM64) as world:
        yield world


def test_install_runs_the_arm64_image_under_emulation(arm64):
    installed = json.loads(arm64.mailctl("--json", "install", timeout=BUILD_TIMEOUT).stdout)
    # The generation exists only when postconf, postfix check, doveconf and opendkim -n (the arm64 builds,
    # emulated) accepted the rendered config inside the container.
    assert installed["container"] == "RUNNING" and installed["generation"], installed
    assert binfmt.elf_arch(f"{arm64.rootfs}/usr/sbin/postfix") == "arm64"
    assert binfmt.elf_arch(f"{arm64.rootfs}/usr/sbin/dovecot") == "arm64"
    assert arm64.attach("uname", "-m").stdout.strip() == "aarch64"
    with open(f"{binfmt.BINFMT_DIR}/qemu-aarch64") as handle:
        assert "F" in binfmt.handler_flags(handle.read())  # the emulator is the host's, found from any rootfs
    services = json.loads(arm64.mailctl("--json", "status").stdout)["services"]
    assert services and all(services.values()), services


def test_mail_in_over_smtp_and_out_over_imaps(arm64):
    for address, password in PASSWORDS.items():
        arm64.mailctl("user", "add", address, "--password-stdin", stdin=password + "\n")
    token = send25(arm64.ip, "alice@arm64.test")
    raw = imap_wait(arm64.ip, user="alice@arm64.test", password=PASSWORDS["alice@arm64.test"], token=token,
                    timeout=EMULATED_TIMEOUT)  # fmt: skip
    assert f"token {token}".encode() in raw
    assert b"DKIM-Signature:" not in raw  # mail from outside is not signed


def test_submission_is_signed_by_the_arm64_opendkim(arm64):
    import dkim

    from secumail.mail import dkim as keys

    token, msg = make_message("bob@arm64.test", sender="alice@arm64.test")
    with smtplib.SMTP(arm64.ip, 587, local_hostname=HELO, timeout=EMULATED_TIMEOUT) as smtp:
        smtp.starttls(context=tls_context())
        smtp.login("alice@arm64.test", PASSWORDS["alice@arm64.test"])
        smtp.sendmail("alice@arm64.test", ["bob@arm64.test"], msg)
    raw = imap_wait(arm64.ip, user="bob@arm64.test", password=PASSWORDS["bob@arm64.test"], token=token,
                    timeout=EMULATED_TIMEOUT)  # fmt: skip
    txt = keys.dns_txt_value(arm64.data, "arm64.test", "mail").encode()

    def dns(name, timeout=5):
        assert name == b"mail._domainkey.arm64.test."
        return txt

    assert b"DKIM-Signature:" in raw
    assert dkim.verify(raw, dnsfunc=dns), raw[:600]


def test_an_image_built_for_arm64_is_what_a_router_imports(arm64):
    """docs/openwrt.md's way: `mailctl image build --arch arm64` on the PC, `mailctl image import` on the router."""
    tarball = f"{arm64.work}/secumail-arm64.tar.zst"
    built = json.loads(
        arm64.mailctl("--json", "image", "build", "--arch", "arm64", tarball, timeout=BUILD_TIMEOUT).stdout
    )
    assert built["arch"] == "arm64" and built["bytes"] > 10_000_000, built
    postfix = subprocess.run(
        ["tar", "-I", "zstd", "-xOf", tarball, "./usr/sbin/postfix"], capture_output=True, check=True
    )
    assert binfmt.ELF_MACHINE.get(int.from_bytes(postfix.stdout[18:20], "little")) == "arm64"
    arm64.mailctl("stop")
    arm64.mailctl("image", "import", tarball, timeout=900)
    started = json.loads(arm64.mailctl("--json", "start", timeout=300).stdout)
    assert started["container"] == "RUNNING"
    token = send25(arm64.ip, "bob@arm64.test")
    imap_wait(arm64.ip, user="bob@arm64.test", password=PASSWORDS["bob@arm64.test"], token=token,
              timeout=EMULATED_TIMEOUT)  # fmt: skip
