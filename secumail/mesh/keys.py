"""Master key, key slots and the recovery key (docs/backup-format.md 5.2, 5.3)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time

from secumail.config.layout import DataLayout
from secumail.errors import BackupFormatError, InputError, SecumailError
from secumail.mesh import crypto
from secumail.mesh.identity import NodeKey, key_from_seed

RECOVERY_BYTES = 20  # 160 bits -> 32 base32 characters


def master_path(data_path: str) -> str:
    return DataLayout(data_path).master_key


def load_or_create_master(data_path: str) -> bytes:
    from secumail.system.files import atomic_write

    path = master_path(data_path)
    if os.path.exists(path):
        with open(path, "rb") as handle:
            raw = handle.read()
        try:
            master = base64.b64decode(raw.strip(), validate=True)
        except ValueError:
            master = b""
        if len(master) != 64:
            raise SecumailError(f"{path} is not a secumail master key (64 bytes, base64)")
        return master
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    master = os.urandom(64)
    atomic_write(path, base64.b64encode(master) + b"\n", 0o600)
    return master


def format_secret(secret: bytes) -> str:
    text = base64.b32encode(secret).decode().rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_secret(text: str) -> bytes:
    compact = re.sub(r"[\s-]", "", text).upper()
    if len(compact) != 32 or not re.fullmatch(r"[A-Z2-7]+", compact):
        raise InputError("that is not a recovery key (32 base32 characters in groups of 4)")
    return base64.b32decode(compact)


def recovery_auth_key(secret: bytes) -> NodeKey:
    """The SSH key a fresh router uses to read its repository copy on a peer."""
    return key_from_seed(hashlib.blake2b(b"", key=secret, person=b"secumail-rauth1", digest_size=32).digest())


def make_slot(master: bytes, secret: bytes, kind: str) -> bytes:
    slot = {"version": 1, "kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    slot.update(crypto.wrap_master(master, secret))
    return json.dumps(slot, indent=1).encode()


def open_slots(slot_files: list[tuple[str, bytes]], secret: bytes) -> bytes:
    """The master key from the first slot that `secret` opens; one clear line otherwise."""
    if not slot_files:
        raise BackupFormatError("the repository has no key slots: it cannot be opened with a recovery key")
    refused = ""
    for name, raw in slot_files:
        try:
            slot = json.loads(raw)
        except ValueError:
            refused = refused or f"key slot {name} is not JSON"
            continue
        if not isinstance(slot, dict):
            refused = refused or f"key slot {name} is not a key slot"
            continue
        try:
            master = crypto.unwrap_master(slot, secret)
        except BackupFormatError as exc:  # a slot from a peer's copy: refused unopened, the others tried
            refused = refused or f"key slot {name} {exc}"
            continue
        if master is not None:
            return master
    if refused:
        raise BackupFormatError(f"{refused}; refusing it")
    raise InputError("the recovery key or passphrase opens no key slot of this repository")
