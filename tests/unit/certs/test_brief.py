"""The certificate part of `mailctl status` (from files only) and ssl-setup for OpenWrt's acme."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys

from secumail.certs.brief import certificate_brief
from secumail.certs.der import leaf_validity
from secumail.certs.paths import cert_names, cert_paths
from secumail.certs.state import CertState, load_state, save_state
from secumail.system.files import atomic_write
from tests.support.paths import REPO
from tests.unit.certs.certdata import make_pair, settings

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def install(s, now):
    chain, key = make_pair(s, now)
    paths = cert_paths(s)
    os.makedirs(paths.ssl_dir, exist_ok=True)
    atomic_write(paths.fullchain, chain)
    atomic_write(paths.privkey, key, mode=0o600)
    return leaf_validity(paths.fullchain)


def test_no_certificate(tmp_path):
    s = settings(tmp_path)
    brief = certificate_brief(s.main.data_path, NOW)
    assert brief["present"] is False and brief["warn"] is True
    assert brief["summary"] == "none (run 'mailctl ssl-setup')"


def test_fresh_certificate_shows_next_renewal_and_no_warning(tmp_path):
    s = settings(tmp_path)
    validity = install(s, NOW)
    renew_at = NOW + dt.timedelta(days=200)
    save_state(cert_paths(s).state, CertState(serial=validity.serial, renew_at=renew_at))
    brief = certificate_brief(s.main.data_path, NOW)
    assert brief["present"] and brief["warn"] is False and brief["last_error"] is None
    assert brief["next_renewal"] == "2030-07-20T00:00:00Z"
    assert brief["days_left"] == 365  # self-signed: 365 days from NOW
    assert brief["summary"].endswith("(365 days left), next renewal 2030-07-20 00:00 UTC")


def test_failed_renewal_and_few_days_left_are_surfaced(tmp_path):
    s = settings(tmp_path)
    validity = install(s, NOW)
    later = validity.not_after - dt.timedelta(days=10)
    retry = later + dt.timedelta(hours=2)
    error = "cannot reach the ACME CA at https://acme.invalid/dir: connection refused"
    save_state(
        cert_paths(s).state,
        CertState(serial=validity.serial, renew_at=NOW, last_attempt=later, last_error=error, failures=2,
                  next_attempt=retry),
    )
    brief = certificate_brief(s.main.data_path, later)
    assert brief["warn"] is True and brief["days_left"] == 10
    assert brief["last_error"] == error and brief["failures"] == 2
    assert brief["next_renewal"] == retry.isoformat().replace("+00:00", "Z")
    assert "WARNING: fewer than 14 days left" in brief["summary"]
    assert brief["summary"].endswith(f"; last renewal failed: {error}")
    expired = certificate_brief(s.main.data_path, validity.not_after + dt.timedelta(days=1))
    assert "EXPIRED" in expired["summary"]


def test_mailctl_status_certificate_imports_nothing_heavy(tmp_path):
    s = settings(tmp_path)
    install(s, NOW)
    code = (
        "import sys\n"
        "from secumail.appliance.status import _certificate\n"
        "from secumail.config.settings import default_package, settings_from_package\n"
        "import dataclasses\n"
        "s = settings_from_package(default_package())\n"
        f"s = dataclasses.replace(s, main=dataclasses.replace(s.main, data_path={s.main.data_path!r}))\n"
        "assert _certificate(s)['present']\n"
        "print(sorted(m for m in ('cryptography', 'acme', 'josepy', 'ssl', 'urllib.request', 'dns') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ssl_setup_without_force_picks_up_a_changed_openwrt_certificate(tmp_path):
    from secumail.certs.status import up_to_date

    s = settings(tmp_path)
    source = tmp_path / "acme"
    source.mkdir()
    s = dataclasses.replace(s, ssl=dataclasses.replace(s.ssl, type="openwrt-acme"),
                            acme=dataclasses.replace(s.acme, openwrt_dir=str(source)))  # fmt: skip
    now = dt.datetime.now(dt.timezone.utc)
    validity = install(s, now)
    state = CertState(serial=validity.serial, renew_at=now + dt.timedelta(days=300))
    state.extra = {"source": "openwrt-acme", "names": cert_names(s)}
    save_state(cert_paths(s).state, state)
    paths = cert_paths(s)
    with open(paths.fullchain, "rb") as chain, open(paths.privkey, "rb") as key:
        (source / f"{s.main.fqdn}.fullchain.crt").write_bytes(chain.read())
        (source / f"{s.main.fqdn}.key").write_bytes(key.read())
    assert up_to_date(s, now) == "OpenWrt's acme certificate is unchanged and already installed"
    chain, key = make_pair(s, now)  # OpenWrt's acme renewed it
    (source / f"{s.main.fqdn}.fullchain.crt").write_bytes(chain)
    assert up_to_date(s, now) is None
    assert load_state(paths.state).serial == validity.serial
