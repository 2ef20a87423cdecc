"""Mail between two appliances on the simulated internet arrives authenticated (issue 15).

World: tests/support/internet.py (routers A and B with full appliances for a.test and b.test, Knot
and Unbound on sminet0, 198.51.100.0/24). The user submits at the router's WAN address (587,
STARTTLS, AUTH), the appliance delivers to the other's MX through both routers' NAT, and the copy
read over IMAPS from the receiving container is judged by dkimpy and pyspf against the same
resolver the appliances use.
"""

from __future__ import annotations

import pytest

from tests.support.authcheck import verdict
from tests.support.inetmail import fetch, submit
from tests.support.internet import FORGER, RESOLVER_IP

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("direction", ["a->b", "b->a"])
def test_mail_between_appliances_passes_spf_dkim_and_dmarc_alignment(inet, direction):
    src, dst = (inet.a, inet.b) if direction == "a->b" else (inet.b, inet.a)
    sender, rcpt = src.user("alice"), dst.user("bob")

    token = submit(src, sender, rcpt)
    raw = fetch(dst, rcpt, token)

    v = verdict(raw, RESOLVER_IP)
    assert v.client_ip == src.wan_ip  # it came over the internet, from the sender's router
    assert v.helo == src.fqdn  # HELO is the published mail host name
    assert v.spf == "pass", v
    assert v.dkim, v
    assert v.dmarc_aligned, v
    assert v.from_domain == v.dkim_domain == v.spf_domain == src.domain


@pytest.mark.parametrize("site", ["a", "b"])
def test_each_appliance_serves_a_certificate_from_the_public_ca(inet, site, tmp_path):
    """ssl-setup ran by DNS-01 on the simulated internet: a client trusting only the CA's root
    verifies the chain and the host name on IMAPS at the router's WAN address, and submission
    (STARTTLS) serves the same certificate."""
    import socket
    import ssl

    from secumail.certs.services import fetch_peer_cert

    s = getattr(inet, site)
    root = tmp_path / "root.pem"
    root.write_bytes(inet.ca_root())
    context = ssl.create_default_context(cafile=str(root))
    with (
        socket.create_connection((s.wan_ip, 993), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=s.fqdn) as tls,
    ):
        imaps = tls.getpeercert(binary_form=True)
        assert ("DNS", s.fqdn) in tls.getpeercert()["subjectAltName"]
    assert fetch_peer_cert(s.wan_ip, 587, starttls="smtp", server_name=s.fqdn) == imaps


def test_mail_forged_by_a_third_host_fails_spf_and_carries_no_valid_signature(inet):
    """The checker tells a forgery apart: the forger (198.51.100.66) claims alice@a.test to B.
    A publishes p=none, so B delivers the well-formed forgery to the inbox (test_dmarc_policy.py
    covers quarantine and reject)."""
    import uuid

    token = uuid.uuid4().hex
    inet.forger_send(inet.b, inet.a.user("alice"), inet.b.user("bob"), token)
    # well formed, from a host with forward-confirmed DNS: under p=none nothing sends it to Junk
    v = verdict(fetch(inet.b, inet.b.user("bob"), token), RESOLVER_IP)
    assert v.client_ip == FORGER[1]
    assert v.spf == "softfail", v  # "v=spf1 mx ~all" of a.test, published by A's dns-setup
    assert not v.dkim
    assert not v.dmarc_aligned
