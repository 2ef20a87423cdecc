"""Where certificate files live (data_path/ssl, as the SecuBox mail server lays it out)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from secumail.config.settings import Settings


@dataclass(frozen=True)
class CertPaths:
    ssl_dir: str

    @property
    def fullchain(self) -> str:
        return os.path.join(self.ssl_dir, "fullchain.pem")

    @property
    def privkey(self) -> str:
        return os.path.join(self.ssl_dir, "privkey.pem")

    @property
    def state(self) -> str:
        return os.path.join(self.ssl_dir, "state.json")

    @property
    def lock(self) -> str:
        return os.path.join(self.ssl_dir, ".lock")

    def account_dir(self, directory_url: str) -> str:
        """One account per CA directory: a key is bound to the CA it registered with."""
        label = re.sub(r"[^A-Za-z0-9.-]+", "_", directory_url.split("://", 1)[-1]).strip("_")
        return os.path.join(self.ssl_dir, "acme", label[:120] or "default")


def cert_paths(settings: Settings) -> CertPaths:
    return CertPaths(settings.layout.ssl)


def cert_names(settings: Settings) -> list[str]:
    """The mail host first, then the names the container's web server answers for every mail domain
    (mta-sts.<domain> with dns.mta_sts testing|enforce, autoconfig.<domain> and autodiscover.<domain>
    with dns.autoconfig; secumail.mail.webserve), then the extra names; without duplicates
    (case-insensitive)."""
    from secumail.mail import webserve

    web_hosts: list[str] = []
    if webserve.enabled(settings):
        from secumail.dns.local import mail_domains

        web_hosts = webserve.host_names(settings, mail_domains(settings))
    names: list[str] = []
    for name in (settings.main.fqdn, *web_hosts, *settings.acme.extra_names):
        name = name.rstrip(".").lower()
        if name and name not in names:
            names.append(name)
    return names
