"""DKIM keys: files, modes, and the public value a verifier would use."""

from __future__ import annotations

import base64
import os
import stat
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

from secumail.errors import InputError
from secumail.mail import dkim


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ensure_key_creates_private_pem_with_private_modes(tmp_path):
    path = dkim.ensure_key(str(tmp_path), "Example.COM", "mail", bits=1024)
    assert path == str(tmp_path / "dkim" / "example.com" / "mail.private")
    assert path == dkim.key_path(str(tmp_path), "example.com", "mail")
    assert _mode(path) == 0o600
    assert _mode(str(tmp_path / "dkim")) == 0o700
    assert _mode(str(tmp_path / "dkim" / "example.com")) == 0o700
    assert _read(path).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_default_key_is_2048_bit_rsa(tmp_path):
    path = dkim.ensure_key(str(tmp_path), "example.com", "mail")
    key = serialization.load_pem_private_key(_read(path), None)
    assert key.key_size == 2048


def test_ensure_key_keeps_an_existing_key(tmp_path):
    first = _read(dkim.ensure_key(str(tmp_path), "example.com", "mail", bits=1024))
    second = _read(dkim.ensure_key(str(tmp_path), "example.com", "mail", bits=1024))
    assert first == second


def test_concurrent_callers_agree_on_one_key(tmp_path):
    values = []
    threads = [
        threading.Thread(target=lambda: values.append(
            _read(dkim.ensure_key(str(tmp_path), "example.com", "s1", bits=1024))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(values)) == 1
    assert [n for n in os.listdir(tmp_path / "dkim" / "example.com") if n.startswith(".tmp")] == []


def test_public_value_verifies_a_signature_made_with_the_private_key(tmp_path):
    path = dkim.ensure_key(str(tmp_path), "example.com", "mail", bits=1024)
    private = serialization.load_pem_private_key(_read(path), None)
    sig = private.sign(b"hello", padding.PKCS1v15(), hashes.SHA256())
    der = base64.b64decode(dkim.public_key_b64(str(tmp_path), "example.com", "mail"))
    public = serialization.load_der_public_key(der)
    public.verify(sig, b"hello", padding.PKCS1v15(), hashes.SHA256())  # raises if p= is wrong
    txt = dkim.dns_txt_value(str(tmp_path), "example.com", "mail")
    assert txt == "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def test_ed25519_p_is_the_raw_32_byte_key(tmp_path):
    dkim.ensure_key(str(tmp_path), "example.com", "mail-ed", algorithm="ed25519")
    txt = dkim.dns_txt_value(str(tmp_path), "example.com", "mail-ed")
    assert txt.startswith("v=DKIM1; k=ed25519; p=")
    raw = base64.b64decode(txt.split("p=", 1)[1])
    assert len(raw) == 32
    private = dkim.load_private_key(str(tmp_path), "example.com", "mail-ed")
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(private.sign(b"x"), b"x")


def test_missing_key_gives_none(tmp_path):
    assert dkim.public_key_b64(str(tmp_path), "example.com", "mail") is None
    assert dkim.dns_txt_value(str(tmp_path), "example.com", "mail") is None


@pytest.mark.parametrize("domain,selector", [
    ("../etc", "mail"), ("example.com", "../x"), ("example.com", "a/b"),
    ("example.com", ""), ("nodot", "mail"),
])
def test_path_components_are_refused(tmp_path, domain, selector):
    with pytest.raises(InputError):
        dkim.ensure_key(str(tmp_path), domain, selector, bits=1024)
    assert not (tmp_path / "dkim").exists() or not any((tmp_path / "dkim").rglob("*.private"))


def test_record_name():
    assert dkim.record_name("Example.com.", "mail") == "mail._domainkey.example.com"
