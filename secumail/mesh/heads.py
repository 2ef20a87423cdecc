"""Head records: a signed, monotonic (sequence number, latest snapshot) per node.

Backup writes REPO/heads/<sha256> after each snapshot (docs/backup-format.md 6.3).
A peer can serve an older but valid copy (rollback) or leave out the newest
snapshots (withholding); both look like a smaller sequence number than one this
node has seen before, which it remembers per node in data_path/mesh/state/heads.json.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import time
from typing import Any

from secumail.config.layout import DataLayout
from secumail.mesh.identity import NodeKey, node_id_of, verify_signature
from secumail.system.files import file_lock, write_json

FORMAT = "secumail-head"
_NAME = re.compile(r"^[0-9a-f]{64}$")
MAX_HEAD = 4096  # a head record is ~400 bytes; anything bigger is not one


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def make(node: NodeKey, seq: int, snapshot: str) -> bytes:
    body = {
        "format": FORMAT,
        "version": 1,
        "node_id": node.node_id,
        "seq": seq,
        "snapshot": snapshot,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    signed = {
        "head": body,
        "node_key": base64.b64encode(node.public_raw).decode(),
        "signature": base64.b64encode(node.sign(_canonical(body))).decode(),
    }
    return json.dumps(signed, indent=1).encode() + b"\n"


def parse(raw: bytes, name: str, node_id: str) -> dict[str, Any] | None:
    """The head body if `raw` is a head record of `node_id` stored under its SHA-256 `name`."""
    if len(raw) > MAX_HEAD or hashlib.sha256(raw).hexdigest() != name:
        return None
    try:
        signed = json.loads(raw)
        body = signed["head"]
        public = base64.b64decode(signed["node_key"], validate=True)
        signature = base64.b64decode(signed["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("node_id") != node_id:
        return None
    if type(body.get("seq")) is not int or not _NAME.match(str(body.get("snapshot", ""))):
        return None
    if node_id_of(public) != node_id or not verify_signature(public, signature, _canonical(body)):
        return None
    return body


def latest(repo_path: str, node_id: str, among: set[str] | None = None) -> dict[str, Any] | None:
    """The valid head record with the highest sequence number in a repository (copy); with `among`,
    only of the head files so named."""
    best = None
    directory = os.path.join(repo_path, "heads")
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for name in os.listdir(directory):
            if not _NAME.match(name) or (among is not None and name not in among):
                continue  # .tmp-* and anything else
            try:
                with open(os.path.join(directory, name), "rb") as handle:
                    body = parse(handle.read(MAX_HEAD + 1), name, node_id)
            except OSError:
                continue
            if body is not None and (best is None or body["seq"] > best["seq"]):
                best = body
    return best


# what this node has seen ----------------------------------------------------------
def _state_path(data_path: str) -> str:
    return os.path.join(DataLayout(data_path).mesh_state, "heads.json")


def seen(data_path: str, node_id: str) -> dict[str, Any] | None:
    try:
        with open(_state_path(data_path), "rb") as handle:
            known = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    head = known.get(node_id) if isinstance(known, dict) else None
    return head if isinstance(head, dict) and type(head.get("seq")) is int else None


def remember(data_path: str, head: dict[str, Any]) -> None:
    """Keep `head` as the highest seen for its node, unless a higher one is known."""
    path = _state_path(data_path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with file_lock(path + ".lock"):
        try:
            with open(path, "rb") as handle:
                known = json.loads(handle.read())
        except (OSError, ValueError):
            known = {}
        if not isinstance(known, dict):
            known = {}
        old = known.get(head["node_id"])
        if isinstance(old, dict) and type(old.get("seq")) is int and old["seq"] >= head["seq"]:
            return
        known[head["node_id"]] = {k: head[k] for k in ("node_id", "seq", "snapshot", "time")}
        write_json(path, known)


def write(repo: Any, node: NodeKey, data_path: str, snapshot: str) -> dict[str, Any]:
    """After a snapshot: the next head record into the repository (older ones deleted), remembered."""
    current = latest(repo.path, node.node_id)
    known = seen(data_path, node.node_id)
    seq = max(current["seq"] if current else 0, known["seq"] if known else 0) + 1
    raw = make(node, seq, snapshot)
    name = repo.write("heads", raw)
    for old in os.listdir(os.path.join(repo.path, "heads")):
        if old != name and _NAME.match(old):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(repo.path, "heads", old))
    head = parse(raw, name, node.node_id)
    assert head is not None  # noqa: S101 - we just made it
    remember(data_path, head)
    return head


def _older_than_seen(data_path: str, node_id: str, served: dict[str, Any] | None) -> dict[str, Any] | None:
    """The head we had seen of `node_id` when `served` (a copy's head, or None) is older or missing;
    None when it is as new. `served` is remembered when it is the newest seen."""
    known = seen(data_path, node_id)
    if served is not None:
        remember(data_path, served)
    if known is not None and (served is None or served["seq"] < known["seq"]):
        return known
    return None


def _said(head: dict[str, Any] | None) -> str:
    return f"head {head['seq']} ({head['time']})" if head else "no head record"


def check(data_path: str, node_id: str, copy_path: str, source: str, snapshots: list[str]) -> str | None:
    """One warning line when the copy at `source` is older than what we saw, or withholds its head.

    `snapshots` are the snapshot names the copy holds. The copy's head is
    remembered when it is the newest seen.
    """
    served = latest(copy_path, node_id)
    known = _older_than_seen(data_path, node_id, served)
    if known is not None:
        got = _said(served)
        return (
            f"{source} serves an older copy of node {node_id} than seen before: {got}, "
            f"but head {known['seq']} ({known['time']}) is known; newer backups are missing there "
            "(rolled back or withheld)"
        )
    if served is not None and served["snapshot"] not in snapshots:
        return (
            f"{source} withholds snapshot {served['snapshot'][:12]} named by its head {served['seq']} "
            f"({served['time']}); restoring an older one"
        )
    return None


def follows_deletions(data_path: str, node_id: str, copy_path: str, served: set[str]) -> str | None:
    """After a pull of `node_id`'s repository into our copy of it: None when the copy the peer serves
    (its files `served`) is at least as new as the newest we have seen of it, so what it no longer
    lists may go; else one warning line, and nothing of our copy may be deleted.

    A peer wiped, or put back to an older disk image, serves an older head or none; following its
    deletions would throw away the newer snapshots only our copy still holds. The served head is
    remembered either way (it never lowers what we remember).
    """
    names = {rel.split("/", 1)[1] for rel in served if rel.startswith("heads/")}
    head = latest(copy_path, node_id, among=names)
    known = _older_than_seen(data_path, node_id, head)
    if known is None:
        return None
    return (
        f"peer {node_id} serves {_said(head)}, older than head {known['seq']} ({known['time']}) pulled before "
        "(wiped or put back to an older state): new files were pulled, none of our copy was deleted"
    )
