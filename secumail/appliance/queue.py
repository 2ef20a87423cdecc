"""The Postfix queue inside the container: list, flush, delete."""

from __future__ import annotations

import json
import re
from typing import Any

from secumail.appliance.spec import running_container
from secumail.config.settings import Settings
from secumail.errors import InputError, SecumailError

_QUEUE_ID = re.compile(r"^[0-9A-Za-z]{5,20}$")


def queue_list(settings: Settings, timeout: float = 60) -> list[dict[str, Any]]:
    container = running_container(settings)
    res = container.exec(["postqueue", "-j"], timeout=timeout)
    if res.returncode != 0:
        raise SecumailError(f"postqueue -j failed: {(res.stderr or res.stdout).strip()}")
    entries = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        entries.append({
            "queue_id": item.get("queue_id"),
            "queue": item.get("queue_name"),
            "arrival": item.get("arrival_time"),
            "size": item.get("message_size"),
            "sender": item.get("sender"),
            "recipients": [r.get("address") for r in item.get("recipients", [])],
            "reason": "; ".join(r.get("delay_reason", "") for r in item.get("recipients", []) if r.get("delay_reason")),
        })  # fmt: skip
    return entries


def queue_flush(settings: Settings) -> dict[str, Any]:
    running_container(settings).exec(["postqueue", "-f"], check=True, timeout=60)
    return {"result": "ok", "message": "delivery of every queued message retried"}


def queue_delete(settings: Settings, queue_id: str) -> dict[str, Any]:
    """Delete one message (queue_id) or, with 'ALL', every queued message."""
    if queue_id != "ALL" and not _QUEUE_ID.match(queue_id):
        raise InputError(f"{queue_id!r} is not a Postfix queue id")
    res = running_container(settings).exec(["postsuper", "-d", queue_id], timeout=60)
    text = (res.stderr or "") + (res.stdout or "")
    found = re.search(r"Deleted: (\d+) message", text)
    deleted = int(found.group(1)) if found else 0
    if res.returncode != 0:
        raise SecumailError(f"postsuper -d {queue_id} failed: {text.strip()}")
    if queue_id != "ALL" and deleted == 0:
        raise InputError(f"no queued message with id {queue_id}")
    return {"result": "ok", "deleted": deleted}
