"""Snapshots (signed, encrypted JSON) and their trees (JSON lines cut into tree objects)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any, Callable

from secumail.errors import BackupFormatError
from secumail.mesh.crypto import Cipher
from secumail.mesh.identity import NodeKey, node_id_of, verify_signature

SNAPSHOT_AD = b"secumail-snapshot-v1"
TREE_CUT = 256 << 10
# one encoder for every tree line (json.dumps with options builds a new one per call)
_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class TreeWriter:
    """Collects tree lines and stores them as tree objects of at most ~256 KiB."""

    def __init__(self, store: Callable[[bytes], bytes]) -> None:
        self.store = store
        self.buffer: list[bytes] = []
        self.size = 0
        self.ids: list[bytes] = []

    def add(self, entry: dict[str, Any]) -> None:
        line = (_LINE(entry) + "\n").encode()
        self.buffer.append(line)
        self.size += len(line)
        if self.size >= TREE_CUT:
            self._cut()

    def _cut(self) -> None:
        if self.buffer:
            self.ids.append(self.store(b"".join(self.buffer)))
            self.buffer, self.size = [], 0

    def finish(self) -> list[bytes]:
        self._cut()
        return self.ids


def iter_tree(load: Callable[[bytes], bytes], tree_ids: list[str]) -> Iterator[dict[str, Any]]:
    for hex_id in tree_ids:
        data = load(bytes.fromhex(hex_id))
        for line in data.splitlines():
            if line:
                yield json.loads(line)


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def make_body(
    node: NodeKey, hostname: str, tree: list[bytes], stats: dict[str, int], parent: str | None
) -> dict:
    now = time.time()
    return {
        "version": 1,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z",
        "hostname": hostname,
        "node_id": node.node_id,
        "node_key": base64.b64encode(node.public_raw).decode(),
        "paths": ["data_path", "uci"],
        "tree": [t.hex() for t in tree],
        "parent": parent,
        "tags": [],
        "stats": stats,
        "original": None,
    }


def encode(cipher: Cipher, node: NodeKey, body: dict[str, Any]) -> bytes:
    signed = {"snapshot": body, "signature": base64.b64encode(node.sign(canonical(body))).decode()}
    return cipher.seal_file(json.dumps(signed).encode(), SNAPSHOT_AD, pad_to=512)


def decode(cipher: Cipher, sealed: bytes, name: str) -> dict[str, Any]:
    what = f"snapshot {name}"
    try:
        doc = json.loads(cipher.open_file(sealed, SNAPSHOT_AD, what, padded=True))
        body, signature = doc["snapshot"], base64.b64decode(doc["signature"])
        public = base64.b64decode(body["node_key"])
    except (ValueError, KeyError, TypeError):
        raise BackupFormatError(f"{what} is not a valid snapshot") from None
    if node_id_of(public) != body.get("node_id"):
        raise BackupFormatError(f"{what}: its key does not match its node id {body.get('node_id')}")
    if not verify_signature(public, signature, canonical(body)):
        raise BackupFormatError(f"{what}: signature of node {body.get('node_id')} does not verify")
    return body
