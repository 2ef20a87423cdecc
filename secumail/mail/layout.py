"""What of data_path the mail container sees, and where: the one definition.

Only what Postfix, Dovecot and OpenDKIM use is mounted; mesh/ (node key,
peers' copies), backup/ (the repository and its master key) and the ACME
account keys (ssl/acme/) never are. The services only read their config,
certificate and DKIM keys, so those mounts are read-only; mail, Sieve homes
and the queue are written.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTAINER_DATA = "/srv/mailserver"  # where the mounted parts of data_path appear inside the container
QUEUE_DIRECTORY = "/var/spool/postfix"


@dataclass(frozen=True)
class DataMount:
    sub: str  # below data_path
    target: str  # inside the container
    read_only: bool


MOUNTS: tuple[DataMount, ...] = (
    DataMount("config", f"{CONTAINER_DATA}/config", True),
    DataMount("mail", f"{CONTAINER_DATA}/mail", False),
    DataMount("home", f"{CONTAINER_DATA}/home", False),
    DataMount("ssl", f"{CONTAINER_DATA}/ssl", True),
    DataMount("dkim", f"{CONTAINER_DATA}/dkim", True),
    DataMount("spool", QUEUE_DIRECTORY, False),  # the Postfix queue outlives the image
)

# Below a mounted dir but never for the container: an empty read-only tmpfs is mounted over it.
MASKED: tuple[str, ...] = ("ssl/acme",)

# The only files of ssl/ the container reads (the rest of ssl/ stays the host's).
SSL_FILES = ("fullchain.pem", "privkey.pem")
