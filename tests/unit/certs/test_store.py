"""DER reading, names, EAB secrets, light imports, local TLS verification, the worker for local sources."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secumail.certs.der import leaf_validity, pem_certificates, validity
from secumail.certs.paths import cert_names, cert_paths
from secumail.errors import ConfigError, SecumailError
from tests.support.paths import REPO
from tests.unit.certs.certdata import make_pair, settings
from tests.unit.certs.tlsserver import TlsService

DEFAULT_NAMES = ["mail.example.org", "autoconfig.example.org", "autodiscover.example.org"]  # dns.autoconfig on


def test_der_reader_agrees_with_cryptography(tmp_path):
    from cryptography import x509

    for key_type in ("ec256", "rsa2048"):
        chain, _ = make_pair(settings(tmp_path, key_type=key_type))
        cert = x509.load_pem_x509_certificate(chain)
        got = validity(pem_certificates(chain)[0])
        assert got.serial == cert.serial_number
        assert (got.not_before, got.not_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert leaf_validity(str(tmp_path / "missing.pem")) is None
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert leaf_validity(str(tmp_path / "junk.pem")) is None


def test_names_are_the_host_then_extra_names_without_duplicates(tmp_path):
    s = settings(tmp_path, extra_names=("autoconfig.example.org", "MAIL.example.org", "mta-sts.example.org"))
    # autoconfig and autodiscover: dns.autoconfig (on by default) has the container's web server answer them
    assert cert_names(s) == ["mail.example.org", "autoconfig.example.org", "autodiscover.example.org",
                             "mta-sts.example.org"]  # fmt: skip


def test_eab_key_file_must_be_private(tmp_path):
    from secumail.certs.ca import eab_credentials

    secret = tmp_path / "eab"
    secret.write_text("# zerossl\nhmac=c2VjcmV0\n")
    s = settings(tmp_path, eab_kid="kid-1", eab_hmac_file=str(secret))
    os.chmod(secret, 0o640)
    with pytest.raises(SecumailError, match=r"readable by others: run 'chmod 600"):
        eab_credentials(s)
    os.chmod(secret, 0o600)
    assert eab_credentials(s) == ("kid-1", "c2VjcmV0")
    zerossl = dataclasses.replace(s, ssl=dataclasses.replace(s.ssl, type="zerossl"), acme=settings(tmp_path).acme)
    with pytest.raises(ConfigError, match="eab_kid: '' is required for ZeroSSL"):
        eab_credentials(zerossl)


def test_light_modules_import_no_heavy_library():
    code = (
        "import sys\n"
        "import secumail.certs.renewal, secumail.certs.runner, secumail.certs.services, secumail.certs.openwrt\n"
        "import secumail.cli.certs\n"
        "print([m for m in ('acme', 'josepy', 'cryptography', 'requests', 'dns') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.fixture
def pair_files(tmp_path):
    from secumail.certs import keys

    s = settings(tmp_path)
    chain, key = make_pair(s)
    keys.install_pair(cert_paths(s).ssl_dir, chain, key)
    return s, cert_paths(s)


@pytest.mark.parametrize("starttls", [None, "smtp", "imap"])
def test_fetch_peer_cert_reads_what_the_service_serves(pair_files, starttls):
    from secumail.certs.services import Target, fetch_peer_cert, verify_served

    _, paths = pair_files
    service = TlsService(paths.fullchain, paths.privkey, starttls=starttls)
    try:
        expected = pem_certificates(Path(paths.fullchain).read_bytes())[0]
        assert fetch_peer_cert(service.host, service.port, starttls=starttls) == expected
        verify_served([Target("x", service.host, service.port, starttls)], expected, timeout=2)
    finally:
        service.close()


def test_verify_served_names_the_port_that_serves_an_old_certificate(pair_files, tmp_path):
    from secumail.certs.services import Target, verify_served

    _, paths = pair_files
    service = TlsService(paths.fullchain, paths.privkey)
    other, _ = make_pair(settings(tmp_path / "other"))
    try:
        with pytest.raises(SecumailError, match=rf"imaps \(127.0.0.1:{service.port}\) serves an older certificate"):
            verify_served([Target("imaps", service.host, service.port)], pem_certificates(other)[0], timeout=0.3)
    finally:
        service.close()
    with pytest.raises(SecumailError, match="smtps .* cannot connect"):
        verify_served([Target("smtps", "127.0.0.1", service.port)], b"x", timeout=0.2)


def test_obtain_selfsigned_through_the_worker_then_reload_and_verify(tmp_path):
    from secumail.certs import runner
    from secumail.certs.services import Target
    from secumail.certs.state import load_state

    s = settings(tmp_path)
    result = runner.obtain(s, reload=None)
    paths = cert_paths(s)
    assert result["ok"] and result["names"] == DEFAULT_NAMES
    assert oct(os.stat(paths.privkey).st_mode & 0o777) == "0o600"
    assert load_state(paths.state).extra["source"] == "selfsigned"
    service = TlsService(paths.fullchain, paths.privkey)
    try:
        result = runner.obtain(s, reload=service.reload, targets=[Target("smtps", service.host, service.port)])
        assert service.reloads == 1 and result["services"].startswith("reloaded")
    finally:
        service.close()


def test_openwrt_acme_pickup(tmp_path):
    from secumail.certs import runner
    from secumail.certs.openwrt import source_changed

    s = settings(tmp_path, openwrt_dir=str(tmp_path / "openwrt"))
    s = dataclasses.replace(s, ssl=dataclasses.replace(s.ssl, type="openwrt-acme"))
    with pytest.raises(SecumailError, match="no certificate for mail.example.org from OpenWrt's acme package"):
        runner.obtain(s, reload=None)
    os.makedirs(tmp_path / "openwrt")
    chain, key = make_pair(s)
    (tmp_path / "openwrt" / "mail.example.org.fullchain.crt").write_bytes(chain)
    (tmp_path / "openwrt" / "mail.example.org.key").write_bytes(key)
    assert source_changed(s)
    runner.obtain(s, reload=None)
    assert Path(cert_paths(s).fullchain).read_bytes() == chain
    assert not source_changed(s)
    # a key that does not belong to the certificate is refused, the installed pair stays
    _, other_key = make_pair(s)
    (tmp_path / "openwrt" / "mail.example.org.key").write_bytes(other_key)
    (tmp_path / "openwrt" / "mail.example.org.fullchain.crt").write_bytes(make_pair(s)[0])
    with pytest.raises(SecumailError, match="does not belong to the certificate"):
        runner.obtain(s, reload=None)
    assert Path(cert_paths(s).fullchain).read_bytes() == chain


def test_ssl_status_without_a_certificate(tmp_path):
    from secumail.certs.status import ssl_status

    data = ssl_status(settings(tmp_path))
    assert data["present"] is False and data["next_renewal"] == "now (no certificate)"
    json.dumps(data)


def test_ssl_status_reports_a_certificate(tmp_path):
    from secumail.certs import runner
    from secumail.certs.status import ssl_status

    s = settings(tmp_path, key_type="rsa2048")
    runner.obtain(s, reload=None)
    data = ssl_status(s, dt.datetime.now(dt.timezone.utc))
    assert data["certificate"]["key_type"] == "rsa2048"
    assert data["certificate"]["sans"] == DEFAULT_NAMES
    assert 364 < data["days_left"] <= 365 and data["warning"] is False
    assert data["last_error"] is None and data["renewal_due"] is False
