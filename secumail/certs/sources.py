"""Certificates that do not come from an ACME CA (worker side): self-signed, OpenWrt's acme."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from secumail.certs import keys
from secumail.certs.openwrt import source_files
from secumail.certs.paths import cert_names
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

SELFSIGNED_DAYS = 365


def selfsigned(settings: Settings, now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(fullchain PEM, key PEM) of a new self-signed certificate for the configured names."""
    from secumail.mail.selfsigned import selfsigned_pem

    key = keys.new_private_key(settings.acme.key_type)
    return selfsigned_pem(cert_names(settings), key, SELFSIGNED_DAYS, now), keys.private_pem(key)


def openwrt_pickup(settings: Settings) -> tuple[bytes, bytes]:
    found = source_files(settings)
    if found is None:
        raise SecumailError(
            f"no certificate for {settings.main.fqdn} from OpenWrt's acme package "
            f"in {settings.acme.openwrt_dir}: "
            "configure it there ('uci show acme') or choose another ssl.type"
        )
    chain_path, key_path = found
    with open(chain_path, "rb") as handle:
        chain = handle.read()
    with open(key_path, "rb") as handle:
        key = handle.read()
    keys.check_pair(chain, key)
    return chain, key
