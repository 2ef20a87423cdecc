"""Certificates that do not come from an ACME CA (worker side): self-signed, OpenWrt's acme."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from secumail.certs import keys
from secumail.certs.openwrt import source_files
from secumail.certs.paths import cert_names
from secumail.errors import SecumailError

SELFSIGNED_DAYS = 365


def selfsigned(settings, now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(fullchain PEM, key PEM) of a new self-signed certificate for the configured names."""
    now = now or dt.datetime.now(dt.timezone.utc)
    names = cert_names(settings)
    key = keys.new_private_key(settings.acme.key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELFSIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), keys.private_pem(key)


def openwrt_pickup(settings) -> tuple[bytes, bytes]:
    found = source_files(settings)
    if found is None:
        raise SecumailError(
            f"no certificate for {settings.main.fqdn} from OpenWrt's acme package "
            f"in {settings.acme.openwrt_dir}: "
            "configure it there ('uci show acme') or choose another ssl.type"
        )
    chain_path, key_path = found
    with open(chain_path, "rb") as handle:
        chain = handle.read()
    with open(key_path, "rb") as handle:
        key = handle.read()
    keys.check_pair(chain, key)
    return chain, key
