"""A self-signed certificate for the mail FQDN, so TLS (and therefore login) works before ACME.

Written to data_path/ssl/{fullchain,privkey}.pem only when no certificate is
there: an ACME certificate is never replaced by this one.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os

from secumail.system.files import atomic_write


def ensure_selfsigned(data_path: str, fqdn: str, days: int = 825, force: bool = False) -> bool:
    """Create ssl/privkey.pem (0600, EC P-256) and ssl/fullchain.pem for `fqdn`; True when written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = os.path.join(data_path, "ssl")
    cert_path = os.path.join(directory, "fullchain.pem")
    key_path = os.path.join(directory, "privkey.pem")
    if not force and os.path.exists(cert_path) and os.path.exists(key_path):
        return False
    os.makedirs(directory, mode=0o755, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names: list[x509.GeneralName] = [x509.DNSName(fqdn)]
    with contextlib.suppress(ValueError):  # an address instead of a name
        names = [x509.IPAddress(ipaddress.ip_address(fqdn))]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key first: a reader that finds the new certificate always finds its key.
    atomic_write(key_path, key_pem, mode=0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return True
