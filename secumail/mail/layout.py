"""What of data_path the mail container sees, and where: the one definition.

Only what Postfix, Dovecot and OpenDKIM use is mounted; mesh/ (node key,
peers' copies), backup/ (the repository and its master key) and the ACME
account keys (ssl/acme/) never are. The services only read their config,
certificate and DKIM keys, so those mounts are read-only; mail, Sieve homes,
the queue and the calendars and contacts are written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from secumail.config.layout import (
    AUTOCONFIG,
    CLAMAV,
    CONFIG,
    DAV,
    DKIM,
    HOME,
    MAIL,
    MTA_STS,
    RELAY,
    SPOOL,
    SSL,
    DataLayout,
)

CONTAINER_DATA = "/srv/mailserver"  # where the mounted parts of data_path appear inside the container
QUEUE_DIRECTORY = "/var/spool/postfix"


@dataclass(frozen=True)
class DataMount:
    sub: str  # below data_path (a top-level name of secumail.config.layout.DataLayout)
    target: str  # inside the container
    read_only: bool

    def source(self, layout: DataLayout) -> str:
        """The host directory this mount shows."""
        return os.path.join(layout.root, self.sub)


MOUNTS: tuple[DataMount, ...] = (
    DataMount(CONFIG, f"{CONTAINER_DATA}/{CONFIG}", True),
    DataMount(MAIL, f"{CONTAINER_DATA}/{MAIL}", False),
    DataMount(HOME, f"{CONTAINER_DATA}/{HOME}", False),
    DataMount(SSL, f"{CONTAINER_DATA}/{SSL}", True),
    DataMount(DKIM, f"{CONTAINER_DATA}/{DKIM}", True),
    DataMount(RELAY, f"{CONTAINER_DATA}/{RELAY}", True),  # smarthost passwords: read by the reload script
    DataMount(SPOOL, QUEUE_DIRECTORY, False),  # the Postfix queue outlives the image
    DataMount(CLAMAV, "/var/lib/clamav", False),  # ClamAV's signatures: freshclam writes them
    DataMount(MTA_STS, f"{CONTAINER_DATA}/{MTA_STS}", True),  # our MTA-STS policies: lighttpd serves them
    DataMount(AUTOCONFIG, f"{CONTAINER_DATA}/{AUTOCONFIG}", True),  # autoconfig/autodiscover: lighttpd serves them
    DataMount(DAV, f"{CONTAINER_DATA}/{DAV}", False),  # calendars and contacts (features.dav): Radicale writes
)

# Below a mounted dir but never for the container: an empty read-only tmpfs is mounted over it.
MASKED: tuple[str, ...] = (f"{SSL}/acme",)  # DataLayout.acme

# The only files of ssl/ the container reads (the rest of ssl/ stays the host's).
SSL_FILES = ("fullchain.pem", "privkey.pem")
