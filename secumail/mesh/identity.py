"""Node identity: the Ed25519 node key, node ids, and peers pinned in UCI.

The key lives at data_path/mesh/node.key (0600) so it is part of every backup:
a recovered router keeps the id its peers pinned (docs/backup-format.md 5.1).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from secumail.config import validate
from secumail.config.layout import DataLayout
from secumail.errors import InputError, SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings

ID_CHARS = validate.NODE_ID_CHARS  # base32 characters kept: 160 bits of SHA-256


def node_id_of(public_raw: bytes) -> str:
    """Syncthing-style id: base32 of SHA-256(public key), grouped 4 by 4."""
    digest = base64.b32encode(hashlib.sha256(public_raw).digest()).decode()[:ID_CHARS]
    return "-".join(digest[i : i + 4] for i in range(0, ID_CHARS, 4))


def normalize_node_id(text: str) -> str:
    """Accept any case, with or without dashes/spaces; refuse anything else with one line."""
    try:
        return validate.node_id(text)
    except ValueError as exc:
        raise InputError(f"{text!r} {exc}") from None


@dataclass
class NodeKey:
    private: Any  # cryptography Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def node_id(self) -> str:
        return node_id_of(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def openssh_private(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()

    def paramiko_key(self) -> Any:
        import io

        import paramiko

        return paramiko.Ed25519Key(file_obj=io.StringIO(self.openssh_private()))


def verify_signature(public_raw: bytes, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_from_seed(seed: bytes) -> NodeKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return NodeKey(Ed25519PrivateKey.from_private_bytes(seed))


def load_or_create(data_path: str) -> NodeKey:
    """The node key, created (0600, directory 0700) on first use."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from secumail.system.files import atomic_write, file_lock

    layout = DataLayout(data_path)
    path = layout.node_key
    try:
        os.makedirs(layout.mesh, mode=0o700, exist_ok=True)
        with file_lock(layout.node_key_lock):
            if not os.path.exists(path):
                key = Ed25519PrivateKey.generate()
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                atomic_write(path, pem, 0o600)
                return NodeKey(key)
            with open(path, "rb") as handle:
                loaded = serialization.load_pem_private_key(handle.read(), password=None)
    except OSError as exc:
        raise SecumailError(f"cannot read or create the node key {path}: {exc.strerror}") from None
    except ValueError:
        raise SecumailError(
            f"{path} is not a PEM Ed25519 private key; move it away to make a new one"
        ) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SecumailError(f"{path} is not an Ed25519 key")
    return NodeKey(loaded)


# peers pinned in UCI ---------------------------------------------------------
def parse_address(text: str | None, default_port: int) -> tuple[str, int]:
    if not text:
        return "", default_port
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\s\[\]]+)(?::(\d+))?|([0-9A-Fa-f:]+)", text)
    if not match:
        raise InputError(f"{text!r} is not HOST, HOST:PORT or [IPv6]:PORT")
    host = match.group(1) or match.group(3) or match.group(5)
    port_text = match.group(2) or match.group(4)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise InputError(f"{text!r}: port must be 1-65535")
    return host, port


def section_name(node_id: str) -> str:
    return "peer_" + node_id.replace("-", "")[:16].lower()


def add_peer(confdir: str | None, node_id: str, address: str | None, default_port: int) -> dict[str, Any]:
    """Pin a peer: a `config peer` section, validated with the rest of the config before it is saved."""
    from secumail.config.settings import PACKAGE
    from secumail.config.uci_paths import change

    node_id = normalize_node_id(node_id)
    host, port = parse_address(address, default_port)
    name = section_name(node_id)
    prefix = f"{PACKAGE}.{name}"
    change(confdir, [(prefix, None), (prefix, "peer"), (f"{prefix}.node_id", node_id),
                     (f"{prefix}.address", host or None), (f"{prefix}.port", str(port))])  # fmt: skip
    return {"result": "ok", "name": name, "node_id": node_id, "address": host, "port": port}


def remove_peer(confdir: str | None, settings: Settings, node_id: str) -> dict[str, Any]:
    """Unpin a peer: its `config peer` sections and its entry in mesh.backup_peers."""
    from secumail.config.settings import PACKAGE
    from secumail.config.uci_paths import change

    node_id = normalize_node_id(node_id)
    names = [p.name for p in settings.pinned_peers if p.name and p.node_id == node_id]
    in_list = node_id in settings.mesh.backup_peers
    if not names and not in_list:
        raise InputError(f"{node_id} is not a pinned peer (see 'mailctl mesh peers')")
    changes: list[tuple[str, Any]] = [(f"{PACKAGE}.{name}", None) for name in names]
    if in_list:
        rest = tuple(n for n in settings.mesh.backup_peers if n != node_id)
        changes.append((f"{PACKAGE}.mesh.backup_peers", rest or None))
    change(confdir, changes)
    return {"result": "ok", "node_id": node_id, "removed": names}


def pinned_ids(settings: Settings) -> set[str]:
    """Every pinned node id (config peer sections and the SecuBox-style mesh.backup_peers)."""
    return {peer.node_id for peer in settings.pinned_peers}
