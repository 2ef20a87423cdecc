"""DKIM signing keys: data_path/dkim/<domain>/<selector>.private (PEM, 0600).

RSA (2048 bits by default, RFC 6376) and Ed25519 (RFC 8463) keys. The public
half is never stored: it is derived from the private key when the DNS record
is built, so the two can never disagree.
"""

from __future__ import annotations

import base64
import os
import re

from secumail.config.layout import DataLayout
from secumail.errors import InputError, SecumailError
from secumail.system.files import atomic_write, file_lock

ALGORITHMS = ("rsa", "ed25519")
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _check(domain: str, selector: str) -> str:
    """Domain and selector become path components: refuse anything that is not a DNS label."""
    domain = domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise InputError(f"DKIM: {domain!r} is not a domain name")
    if not _SELECTOR.match(selector):
        raise InputError(f"DKIM: selector {selector!r} must be letters, digits and '-' (one DNS label)")
    return domain


def key_path(data_path: str, domain: str, selector: str) -> str:
    """Where the private key of `selector` for `domain` lives (whether or not it exists)."""
    domain = _check(domain, selector)
    return DataLayout(data_path).dkim_key(domain, selector)


def _makedirs_private(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def ensure_key(data_path: str, domain: str, selector: str, bits: int = 2048, algorithm: str = "rsa") -> str:
    """Create the key if it does not exist yet (0600, directories 0700); return its path.

    An existing key is kept as it is, whatever its size: replacing it would
    break signatures until DNS catches up (rotation uses a new selector).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if algorithm not in ALGORITHMS:
        raise InputError(f"DKIM: unknown key algorithm {algorithm!r} (use rsa or ed25519)")
    if algorithm == "rsa" and not 1024 <= bits <= 4096:
        raise InputError(f"DKIM: RSA key size {bits} is outside 1024..4096")
    path = key_path(data_path, domain, selector)
    _makedirs_private(DataLayout(data_path).dkim)
    _makedirs_private(os.path.dirname(path))
    # The lock makes two concurrent callers agree on one key instead of each writing its own.
    with file_lock(os.path.join(os.path.dirname(path), ".lock")):
        if os.path.exists(path):
            return path
        if algorithm == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write(path, pem, mode=0o600)
    return path


def load_private_key(data_path: str, domain: str, selector: str):  # -> PrivateKeyTypes | None
    """The private key object, or None when no key exists for this selector."""
    from cryptography.hazmat.primitives import serialization

    path = key_path(data_path, domain, selector)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SecumailError(f"DKIM key {path} is unreadable ({exc}); move it away to make a new one") from exc


def key_algorithm(data_path: str, domain: str, selector: str) -> str | None:
    """'rsa', 'ed25519', or None when there is no key."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = load_private_key(data_path, domain, selector)
    if key is None:
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise SecumailError(f"DKIM key {key_path(data_path, domain, selector)} is neither RSA nor Ed25519")


def public_key_b64(data_path: str, domain: str, selector: str) -> str | None:
    """The DKIM p= value: base64 DER SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = load_private_key(data_path, domain, selector)
    if key is None:
        return None
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode("ascii")


def dns_txt_value(data_path: str, domain: str, selector: str) -> str | None:
    """The TXT record for <selector>._domainkey.<domain>: 'v=DKIM1; k=rsa; p=...', or None."""
    algorithm = key_algorithm(data_path, domain, selector)
    if algorithm is None:
        return None
    return f"v=DKIM1; k={algorithm}; p={public_key_b64(data_path, domain, selector)}"


def record_name(domain: str, selector: str) -> str:
    """The DNS owner name of the key record."""
    return f"{selector}._domainkey.{_check(domain, selector)}"


def ed25519_selector(selector: str) -> str:
    """The second selector used for the Ed25519 key when settings.dkim.ed25519 is on."""
    return f"{selector}-ed"
