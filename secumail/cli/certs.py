"""mailctl ssl-setup|ssl-status: certificates by ACME DNS-01."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, pending

CERTS = "mailctl ssl-setup/ssl-status (ACME certificates)"


def register(sub: argparse._SubParsersAction) -> None:
    command(sub, "ssl-setup", pending(CERTS), "obtain a certificate by ACME DNS-01 and install it")
    command(sub, "ssl-status", pending(CERTS), "show the certificate, its expiry and the renewal state")
