"""The DNS provider that sets challenge TXT records (worker side).

`dns_challenge_provider(settings)` returns an object with
`add_txt(name, value, ttl)` and `del_txt(name, value)` (del tolerates an
already-deleted record). It uses the provider plugins of secumail.dns when
they offer a factory; until then a minimal RFC 2136 adapter stands in here,
isolated in this one module so it can be dropped when the factory lands.

Minimal adapter's secrets file (dns.credentials, mode 0600), key=value lines:
  tsig_name=<key name>   tsig_secret=<base64>   tsig_algorithm=hmac-sha256 (default)
dns.server is the primary ('host' or 'host:port'); dns.zone the zone
(empty: found by SOA at the server).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from typing import Any

from secumail.errors import ConfigError, ProviderError, SecumailError

logger = logging.getLogger(__name__)


def dns_challenge_provider(settings: Any) -> Any:
    factory = _dns_factory()
    if factory is not None:
        return factory(settings)
    if settings.dns.provider != "rfc2136":
        raise SecumailError(
            f"DNS provider '{settings.dns.provider}' cannot set ACME challenge records in this version; "
            "use dns.provider 'rfc2136'"
        )
    return Rfc2136Txt.from_settings(settings)


def _dns_factory():
    """The DNS package's provider factory, when it has one (looked up by name, no hard dependency)."""
    try:
        from secumail.dns import providers
    except ImportError:
        return None
    for name in ("provider_for", "get_provider", "make_provider", "load_provider"):
        factory = getattr(providers, name, None)
        if callable(factory):
            return factory
    return None


def read_secrets(path: str) -> dict[str, str]:
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise SecumailError(f"cannot read the DNS credentials file {path}: {exc.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SecumailError(f"{path} is readable by others: run 'chmod 600 {path}'")
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


class Rfc2136Txt:
    """add/delete one TXT value by dynamic update, signed with TSIG."""

    def __init__(
        self, server: tuple[str, int], zone: str | None, keyring: Any, algorithm: str, timeout: float = 10
    ) -> None:
        self.server = server
        self.zone = zone
        self.keyring = keyring
        self.algorithm = algorithm
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Any) -> Rfc2136Txt:
        import dns.tsigkeyring

        from secumail.certs.propagation import parse_server

        server = parse_server(settings.dns.server)
        if server is None:
            raise ConfigError(
                "mailserver.dns.server", "", "is required for the rfc2136 provider (the primary server)"
            )
        secrets = read_secrets(settings.dns.credentials)
        name, secret = secrets.get("tsig_name"), secrets.get("tsig_secret")
        if not name or not secret:
            raise SecumailError(f"{settings.dns.credentials} needs tsig_name= and tsig_secret= lines")
        try:
            keyring = dns.tsigkeyring.from_text({name: secret})
        except Exception:  # noqa: BLE001 - never echo the secret
            raise SecumailError(
                f"the TSIG secret in {settings.dns.credentials} is not valid base64"
            ) from None
        algorithm = secrets.get("tsig_algorithm", "hmac-sha256")
        return cls(
            server, settings.dns.zone or None, keyring, algorithm, getattr(settings.dns, "timeout", 10)
        )

    def _zone_for(self, name: str) -> str:
        if self.zone:
            return self.zone
        from secumail.certs.propagation import find_zone

        self.zone = find_zone(name, [self.server], timeout=self.timeout).to_text()
        return self.zone

    def _send(self, name: str, action: str, value: str, ttl: int) -> None:
        import dns.exception
        import dns.query
        import dns.rcode
        import dns.update

        zone = self._zone_for(name)
        update = dns.update.UpdateMessage(zone, keyring=self.keyring, keyalgorithm=self.algorithm)
        rdata = '"' + value.replace('"', '\\"') + '"'
        if action == "add":
            update.add(name + ".", ttl, "TXT", rdata)
        else:
            update.delete(name + ".", "TXT", rdata)
        try:
            response = dns.query.tcp(update, self.server[0], port=self.server[1], timeout=self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise ProviderError(f"DNS update of {name} at {self.server[0]} failed: {exc}") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise ProviderError(
                f"DNS update of {name} refused by {self.server[0]}: {dns.rcode.to_text(rcode)}"
            )

    def add_txt(self, name: str, value: str, ttl: int = 60) -> None:
        self._send(name, "add", value, ttl)

    def del_txt(self, name: str, value: str) -> None:
        # deleting a missing value is NOERROR in RFC 2136: already-deleted is fine
        for attempt in range(3):
            try:
                self._send(name, "del", value, 0)
                return
            except ProviderError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
