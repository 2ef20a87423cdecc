"""mailctl dns-setup|dns-check: publish and check the domain's DNS records."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, pending

DNS = "mailctl dns-setup/dns-check (DNS records)"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "dns-setup", pending(DNS), "create MX, SPF, DKIM, DMARC, SRV, ... through the DNS provider")
    p.add_argument("domain", nargs="?", help="one domain (default: all)")
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument("--force", action="store_true", help="replace foreign SPF/DMARC records")
    p = command(sub, "dns-check", pending(DNS), "check the published records against the expected ones")
    p.add_argument("domain", nargs="?", help="one domain (default: all)")
