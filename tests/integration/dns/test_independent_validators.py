"""Published SPF, DMARC and DKIM checked by independent tools, against the real Knot.

checkdmarc parses SPF/DMARC as receivers do, pyspf evaluates SPF for the mail
host's address, dkimpy signs with the key file the container's OpenDKIM uses
and verifies against the DKIM TXT record fetched from Knot.
"""

from __future__ import annotations

import os

import pytest

from secumail.dns.setup import setup
from tests.integration.dns.servers import KNOT_ADDR

pytestmark = pytest.mark.integration

checkdmarc_spf = pytest.importorskip("checkdmarc.spf", reason="pip install checkdmarc (the test extra)")
checkdmarc_dmarc = pytest.importorskip("checkdmarc.dmarc", reason="pip install checkdmarc (the test extra)")
dkim = pytest.importorskip("dkim", reason="pip install dkimpy (the test extra)")
spf = pytest.importorskip("spf", reason="pip install pyspf (the test extra)")


@pytest.fixture
def knot_resolver(monkeypatch):
    """A dnspython resolver that asks only the test Knot (also made the default, for pyspf)."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [KNOT_ADDR]
    resolver.timeout = resolver.lifetime = 3
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    return resolver


@pytest.fixture
def published(rfc2136_settings):
    s = rfc2136_settings(dns={"dmarc_policy": "quarantine"}, dkim={"ed25519": True})
    assert setup(s)["conflicts"] == []
    return s


def test_spf_and_dmarc_pass_checkdmarc_and_pyspf(published, knot_resolver):
    result = checkdmarc_spf.check_spf("example.test", resolver=knot_resolver)
    assert result["valid"], result
    assert result["record"] == "v=spf1 mx ~all"
    assert result["dns_lookups"] == 1 and result["warnings"] == []

    dmarc = checkdmarc_dmarc.check_dmarc("example.test", resolver=knot_resolver)
    assert dmarc["valid"], dmarc
    assert dmarc["tags"]["p"]["value"] == "quarantine"
    assert [u["address"] for u in dmarc["tags"]["rua"]["value"]] == ["postmaster@example.test"]

    # Receivers evaluate SPF: the mail host's address passes, any other soft-fails.
    assert spf.check2(i="192.0.2.10", s="alice@example.test", h="mail.example.test")[0] == "pass"
    assert spf.check2(i="198.51.100.7", s="alice@example.test", h="mail.example.test")[0] == "softfail"


def _private_key(settings, selector: str) -> bytes:
    """The key file as OpenDKIM reads it; dkimpy takes RSA as PEM and Ed25519 as the base64 raw seed."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with open(os.path.join(settings.main.data_path, "dkim", "example.test", f"{selector}.private"), "rb") as fh:
        pem = fh.read()
    key = serialization.load_pem_private_key(pem, None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return base64.b64encode(raw)
    return pem


@pytest.mark.parametrize(("selector", "algorithm"), [("mail", b"rsa-sha256"), ("mail-ed", b"ed25519-sha256")])
def test_dkim_signature_with_our_key_verifies_against_the_published_record(
    published, knot_resolver, selector, algorithm
):
    message = (
        b"From: Alice <alice@example.test>\r\nTo: bob@example.org.test\r\nSubject: dkim end to end\r\n"
        b"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello Bob.\r\n"
    )
    signature = dkim.sign(
        message,
        selector.encode(),
        b"example.test",
        _private_key(published, selector),
        signature_algorithm=algorithm,
        include_headers=[b"from", b"to", b"subject"],
    )
    # dkimpy's own DNS lookup (through the default resolver, pointed at Knot) fetches the record.
    assert dkim.verify(signature + message)
    # The check is real: a changed body fails against the same record.
    assert not dkim.verify(signature + message.replace(b"Hello", b"Hullo"))
