"""The recovery key: a key slot for it, and recovery.pub so peers let it read our copy."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from secumail.mesh import keys
from secumail.mesh.identity import NodeKey, node_id_of, verify_signature
from secumail.mesh.repo import Repository
from secumail.system.files import atomic_write


def export_recovery_key(repo: Repository, node: NodeKey) -> dict[str, Any]:
    """Replace the recovery slot with a fresh secret and return it (shown once, never stored)."""
    secret = os.urandom(keys.RECOVERY_BYTES)
    with repo.lock():
        repo.write_slot("recovery", keys.make_slot(repo.cipher_master, secret, "recovery"))
        auth = keys.recovery_auth_key(secret)
        statement = {
            "node_id": node.node_id,
            "recovery_key": base64.b64encode(auth.public_raw).decode(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        body = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        signed = {
            "statement": statement,
            "node_key": base64.b64encode(node.public_raw).decode(),
            "signature": base64.b64encode(node.sign(body)).decode(),
        }
        atomic_write(os.path.join(repo.path, "recovery.pub"), json.dumps(signed, indent=1) + "\n", 0o600)
    return {"result": "ok", "recovery_key": keys.format_secret(secret), "node_id": node.node_id}


def recovery_public_key(path: str, expected_node_id: str) -> bytes | None:
    """The recovery auth public key in `path`/recovery.pub, if signed by `expected_node_id`."""
    try:
        with open(os.path.join(path, "recovery.pub"), "rb") as handle:
            return recovery_key_in(handle.read(64 << 10), expected_node_id)
    except OSError:
        return None


def recovery_key_in(raw: bytes, expected_node_id: str) -> bytes | None:
    """The recovery auth public key a recovery.pub names, if it is signed by `expected_node_id`."""
    try:
        signed = json.loads(raw)
        statement = signed["statement"]
        node_key = base64.b64decode(signed["node_key"])
        body = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        if node_id_of(node_key) != expected_node_id or statement.get("node_id") != expected_node_id:
            return None
        if not verify_signature(node_key, base64.b64decode(signed["signature"]), body):
            return None
        return base64.b64decode(statement["recovery_key"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
