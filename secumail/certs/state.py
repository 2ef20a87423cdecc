"""data_path/ssl/state.json: what the renewal job did last and what it will do next.

Written atomically; unreadable or missing state is an empty one (the
certificate file itself stays the source of truth for expiry).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from secumail.system.files import write_json


@dataclass
class AriInfo:
    """RFC 9773 renewal information for one certificate."""

    url: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    retry_after: dt.datetime | None = None


@dataclass
class CertState:
    serial: int | None = None  # the certificate this state talks about
    renew_at: dt.datetime | None = None  # chosen once per certificate (jitter is not re-rolled)
    last_attempt: dt.datetime | None = None
    last_success: dt.datetime | None = None
    last_error: str | None = None
    failures: int = 0
    next_attempt: dt.datetime | None = None  # backoff after a failure
    ari: AriInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def to_json(state: CertState) -> dict[str, Any]:
    data = asdict(state)
    for key in ("renew_at", "last_attempt", "last_success", "next_attempt"):
        data[key] = _iso(getattr(state, key))
    if state.ari is not None:
        data["ari"] = {
            "url": state.ari.url,
            "start": _iso(state.ari.start),
            "end": _iso(state.ari.end),
            "retry_after": _iso(state.ari.retry_after),
        }
    return data


def from_json(data: dict[str, Any]) -> CertState:
    ari = data.get("ari")
    return CertState(
        serial=data.get("serial"),
        renew_at=_time(data.get("renew_at")),
        last_attempt=_time(data.get("last_attempt")),
        last_success=_time(data.get("last_success")),
        last_error=data.get("last_error"),
        failures=int(data.get("failures") or 0),
        next_attempt=_time(data.get("next_attempt")),
        ari=AriInfo(ari["url"], _time(ari.get("start")), _time(ari.get("end")), _time(ari.get("retry_after")))
        if isinstance(ari, dict) and ari.get("url")
        else None,
        extra=dict(data.get("extra") or {}),
    )


def load_state(path: str) -> CertState:
    try:
        with open(path, encoding="utf-8") as handle:
            return from_json(json.load(handle))
    except (OSError, ValueError, TypeError, KeyError):
        return CertState()


def save_state(path: str, state: CertState) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, to_json(state))
