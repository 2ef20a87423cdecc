"""Which ACME CA to use, from settings.ssl.type and the acme section (stdlib only)."""

from __future__ import annotations

import os
import stat

from secumail.config.settings import Settings
from secumail.errors import ConfigError, SecumailError

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
ZEROSSL = "https://acme.zerossl.com/v2/DV90"

ACME_TYPES = ("letsencrypt", "letsencrypt-staging", "zerossl", "acme")


def directory_for(settings: Settings) -> str:
    kind = settings.ssl.type
    if kind == "letsencrypt":
        return LETSENCRYPT
    if kind == "letsencrypt-staging":
        return LETSENCRYPT_STAGING
    if kind == "zerossl":
        return ZEROSSL
    if kind == "acme":
        if not settings.acme.directory:
            raise ConfigError("mailserver.acme.directory", "", "is required when ssl.type is 'acme'")
        return settings.acme.directory
    raise SecumailError(f"ssl.type '{kind}' does not use an ACME CA")


def ca_bundle_for(settings: Settings) -> str | None:
    """The CA file to trust for the ACME server, or None for the system's store."""
    bundle = settings.acme.ca_bundle
    if settings.ssl.type == "acme" and bundle:
        if not os.path.isfile(bundle):
            raise ConfigError("mailserver.acme.ca_bundle", bundle, "does not exist")
        return bundle
    return None


def eab_credentials(settings: Settings) -> tuple[str, str] | None:
    """(kid, HMAC key) for external account binding, or None when not configured.

    The HMAC key is a secret: it is read from a file that only its owner may
    read (mode 0600 or stricter), never from UCI.
    """
    kid = settings.acme.eab_kid.strip()
    if not kid:
        if settings.ssl.type == "zerossl":
            raise ConfigError("mailserver.acme.eab_kid", "", "is required for ZeroSSL (see your ZeroSSL account)")
        return None
    path = settings.acme.eab_hmac_file
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise SecumailError(f"cannot read the EAB HMAC key file {path}: {exc.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SecumailError(f"{path} is readable by others: run 'chmod 600 {path}'")
    hmac_key = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        hmac_key = line.split("=", 1)[1].strip() if "=" in line else line
        break
    if not hmac_key:
        raise SecumailError(f"{path} holds no EAB HMAC key")
    return kid, hmac_key
