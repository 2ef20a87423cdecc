"""A self-signed certificate for the mail FQDN, so TLS (and therefore login) works before ACME.

Written to data_path/ssl/{fullchain,privkey}.pem only when no certificate is
there: an ACME certificate is never replaced by this one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from typing import Any

from secumail.config.layout import DataLayout
from secumail.system.files import atomic_write


def selfsigned_pem(names: list[str], key: Any, days: int, now: datetime.datetime | None = None) -> bytes:
    """PEM of a self-signed server certificate for `names` (host names or addresses), signed by `key`.

    The one builder of self-signed certificates: install uses it, and so does ssl.type 'selfsigned'.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.datetime.now(datetime.timezone.utc)
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:  # a host name, not an address
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure_selfsigned(data_path: str, fqdn: str, days: int = 825, force: bool = False) -> bool:
    """Create ssl/privkey.pem (0600, EC P-256) and ssl/fullchain.pem for `fqdn`; True when written."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = DataLayout(data_path).ssl
    cert_path = os.path.join(directory, "fullchain.pem")
    key_path = os.path.join(directory, "privkey.pem")
    if not force and os.path.exists(cert_path) and os.path.exists(key_path):
        return False
    os.makedirs(directory, mode=0o755, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key first: a reader that finds the new certificate always finds its key.
    atomic_write(key_path, key_pem, mode=0o600)
    atomic_write(cert_path, selfsigned_pem([fqdn], key, days), mode=0o644)
    return True
