"""The DNS provider that sets challenge TXT records (worker side).

`dns_challenge_provider(settings)` returns the configured provider plugin of
secumail.dns (`get_provider(settings.dns)`), which offers
`add_txt(name, value, ttl)` and `del_txt(name, value)` (del tolerates an
already-deleted value). Kept as one function so the ACME flow does not know
the DNS package's layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def dns_challenge_provider(settings: Settings) -> Any:
    from secumail.dns.providers.base import get_provider

    return get_provider(settings.dns)
