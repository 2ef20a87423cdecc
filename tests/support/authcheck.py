"""What a receiver would conclude about a delivered message: SPF, DKIM and DMARC alignment.

An independent checker (dkimpy, pyspf) run against a given recursive resolver, used where the
receiving appliance has no verifier of its own yet. It reads the client address and HELO from the
receiver's own Received header (the topmost with an address), the envelope sender from Return-Path.
"""

from __future__ import annotations

import contextlib
import email
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass

RECEIVED = re.compile(r"^from\s+(?P<helo>\S+)\s+\((?P<rdns>\S+)\s+\[(?P<ip>[0-9a-fA-F.:]+)\]\)", re.I)


@dataclass(frozen=True)
class Verdict:
    spf: str  # pass, fail, softfail, neutral, none, ...
    spf_domain: str  # the envelope sender's domain
    dkim: bool
    dkim_domain: str  # d= of the signature ('' when unsigned)
    from_domain: str
    client_ip: str
    helo: str

    @property
    def dmarc_aligned(self) -> bool:
        """Strict alignment: the From domain is both the DKIM d= and the envelope domain, and both pass."""
        return (self.dkim and self.spf == "pass"
                and self.from_domain == self.dkim_domain == self.spf_domain)  # fmt: skip


@contextlib.contextmanager
def using_resolver(address: str) -> Iterator[None]:
    """dnspython's default resolver (which dkimpy and pyspf use) pointed at `address` for a while."""
    import dns.resolver

    saved = dns.resolver.default_resolver
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address]
    resolver.lifetime = 5
    dns.resolver.default_resolver = resolver
    try:
        yield
    finally:
        dns.resolver.default_resolver = saved


def verdict(raw: bytes, resolver: str) -> Verdict:
    """Check `raw` (as read from the recipient's mailbox) against the DNS seen by `resolver`."""
    import dkim
    import spf

    message = email.message_from_bytes(raw)
    # the receiver's own SMTP hop: the first Received with a client address (Dovecot's LMTP one has none)
    hops = [RECEIVED.match(" ".join(str(h).split())) for h in message.get_all("Received", [])]
    received = next((hop for hop in hops if hop), None)
    if received is None:
        raise AssertionError(f"no parseable Received header: {message.get_all('Received')}")
    envelope = email.utils.parseaddr(str(message.get("Return-Path", "")))[1]
    from_domain = email.utils.parseaddr(str(message.get("From", "")))[1].rpartition("@")[2].lower()
    signature = str(message.get("DKIM-Signature", ""))
    d = re.search(r"(?:^|;)\s*d=([^;\s]+)", signature)
    with using_resolver(resolver):
        dkim_ok = bool(signature) and dkim.verify(raw)
        spf_result = spf.check2(i=received["ip"], s=envelope, h=received["helo"])[0]
    return Verdict(spf=spf_result, spf_domain=envelope.rpartition("@")[2].lower(), dkim=dkim_ok,
                   dkim_domain=d.group(1).lower() if d else "", from_domain=from_domain,
                   client_ip=received["ip"], helo=received["helo"])  # fmt: skip
