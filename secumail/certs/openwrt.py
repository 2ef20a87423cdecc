"""ssl.type 'openwrt-acme': use the certificate that OpenWrt's acme package keeps.

OpenWrt's acme-common puts `<domain>.fullchain.crt` and `<domain>.key` in
/etc/ssl/acme (acme.openwrt_dir) and fires a hotplug event (ACTION=issued or
renewed) on the `acme` subsystem; acme.sh's own state in
/etc/acme/<domain>[_ecc]/ is the fallback. The hotplug script only needs to
run `mailctl ssl-setup`; the daily job also notices a changed file.
Stdlib only (the worker checks that key and certificate belong together).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from secumail.certs.paths import cert_paths

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def source_files(settings: Settings) -> tuple[str, str] | None:
    fqdn = settings.main.fqdn
    base = settings.acme.openwrt_dir
    candidates = [
        (os.path.join(base, f"{fqdn}.fullchain.crt"), os.path.join(base, f"{fqdn}.key")),
        (f"/etc/acme/{fqdn}_ecc/fullchain.cer", f"/etc/acme/{fqdn}_ecc/{fqdn}.key"),
        (f"/etc/acme/{fqdn}/fullchain.cer", f"/etc/acme/{fqdn}/{fqdn}.key"),
    ]
    for chain, key in candidates:
        if os.path.isfile(chain) and os.path.isfile(key):
            return chain, key
    return None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def source_changed(settings: Settings) -> bool:
    """True when OpenWrt's certificate differs from the installed one."""
    found = source_files(settings)
    if found is None:
        return False
    return _read(found[0]) != _read(cert_paths(settings).fullchain)
