"""Keys and CSRs (worker side: imports cryptography)."""

from __future__ import annotations

import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from secumail.errors import SecumailError
from secumail.system.files import atomic_write


def new_private_key(key_type: str):
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    raise SecumailError(f"unknown key type {key_type!r} (use ec256 or rsa2048)")


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key, names: list[str]) -> bytes:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def account_key(directory: str):
    """The ACME account key for one CA: EC P-256, created once, mode 0600."""
    path = os.path.join(directory, "account.key")
    try:
        with open(path, "rb") as handle:
            return serialization.load_pem_private_key(handle.read(), password=None)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise SecumailError(
            f"cannot read the ACME account key {path}: {exc}; move it away to create a new one"
        ) from None
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    atomic_write(path, private_pem(key), mode=0o600)
    return key


def load_account_uri(directory: str) -> str | None:
    try:
        with open(os.path.join(directory, "account.json"), encoding="utf-8") as handle:
            return json.load(handle).get("uri") or None
    except (OSError, ValueError, AttributeError):
        return None


def save_account_uri(directory: str, uri: str, ca: str) -> None:
    atomic_write(os.path.join(directory, "account.json"), json.dumps({"uri": uri, "directory": ca}) + "\n", 0o600)


def install_pair(ssl_dir: str, fullchain: bytes, key_pem: bytes) -> None:
    """Write privkey.pem (0600) and fullchain.pem (0644), each atomically, key first.

    Both are written to temp files and renamed one right after the other; the
    services only read them on the reload that follows.
    """
    os.makedirs(ssl_dir, mode=0o755, exist_ok=True)
    atomic_write(os.path.join(ssl_dir, "privkey.pem"), key_pem, mode=0o600)
    atomic_write(os.path.join(ssl_dir, "fullchain.pem"), fullchain, mode=0o644)


def check_pair(fullchain: bytes, key_pem: bytes) -> x509.Certificate:
    """The leaf certificate, after checking that the key belongs to it."""
    try:
        leaf = x509.load_pem_x509_certificate(fullchain)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as exc:
        raise SecumailError(f"unreadable certificate or key: {exc}") from None
    mine = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if mine != theirs:
        raise SecumailError("the private key does not belong to the certificate")
    return leaf


def ari_cert_id(cert: x509.Certificate) -> str | None:
    """RFC 9773 certificate identifier: base64url(AKI keyIdentifier) '.' base64url(serial DER)."""
    import base64

    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None
    if not aki:
        return None
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki)}.{b64(raw)}"
