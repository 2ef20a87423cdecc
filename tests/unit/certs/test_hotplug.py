"""files/etc/hotplug.d/acme/50-secumail: OpenWrt's acme renewed a certificate → mailctl ssl-setup."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.paths import REPO

HOOK = os.path.join(REPO, "files/etc/hotplug.d/acme/50-secumail")
SHELLS = [s for s in ("sh", "busybox") if shutil.which(s)]


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_parses(shell):
    args = [shell, "-n", HOOK] if shell == "sh" else [shell, "sh", "-n", HOOK]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _stub(directory, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def run_hook(tmp_path, action: str, ssl_type: str, mailctl_rc: int = 0) -> tuple[list[str], str]:
    """Source the hook in a subshell like OpenWrt's hotplug-call; stub uci, mailctl and logger."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls, syslog = tmp_path / "calls", tmp_path / "syslog"
    _stub(bin_dir, "uci", f'[ "$*" = "-q get mailserver.ssl.type" ] && echo {ssl_type}\n')
    _stub(bin_dir, "mailctl", f"echo \"$*\" >> {calls}\necho one line\necho from mailctl\nexit {mailctl_rc}\n")
    _stub(bin_dir, "logger", f'echo "$*" >> {syslog}\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ACTION": action}
    result = subprocess.run(["sh", "-c", f'( . "{HOOK}" ); echo "after $?"'], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("after 0"), result.stdout  # the hook never fails hotplug-call
    read = lambda p: p.read_text().splitlines() if p.exists() else []  # noqa: E731
    return read(calls), "\n".join(read(syslog))


@pytest.mark.parametrize("action", ["issued", "renewed"])
def test_renewed_certificate_is_picked_up_when_ssl_type_is_openwrt_acme(tmp_path, action):
    calls, syslog = run_hook(tmp_path, action, "openwrt-acme")
    assert calls == ["ssl-setup"]
    assert f"-t secumail -p mail.info acme {action}: one line from mailctl" in syslog


def test_failure_goes_to_syslog_as_an_error(tmp_path):
    calls, syslog = run_hook(tmp_path, "renewed", "openwrt-acme", mailctl_rc=1)
    assert calls == ["ssl-setup"]
    assert "-p mail.err acme renewed: mailctl ssl-setup failed: one line from mailctl" in syslog


@pytest.mark.parametrize(("action", "ssl_type"), [("renewed", "acme"), ("renewed", "letsencrypt"),
                                                  ("update", "openwrt-acme"), ("", "openwrt-acme")])
def test_nothing_happens_otherwise(tmp_path, action, ssl_type):
    calls, syslog = run_hook(tmp_path, action, ssl_type)
    assert calls == [] and syslog == ""
