"""The certificate part of `mailctl status`: files only, standard library only.

`mailctl status` is polled by LuCI, so this reads fullchain.pem with the
small DER reader and state.json (what the renewal job recorded) and imports
neither cryptography nor the ACME stack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from secumail.certs.der import leaf_validity
from secumail.certs.paths import CertPaths
from secumail.certs.policy import WARN_DAYS
from secumail.certs.state import _iso, load_state
from secumail.config.layout import DataLayout


def certificate_brief(data_path: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """present, not_after, days_left, warn, next_renewal, last_attempt, last_error, failures, summary."""
    now = now or dt.datetime.now(dt.timezone.utc)
    paths = CertPaths(DataLayout(data_path).ssl)
    path = paths.fullchain
    validity = leaf_validity(path)
    state = load_state(paths.state)
    if state.failures and state.next_attempt is not None:
        next_renewal = state.next_attempt  # backoff after a failure: the next try
    elif validity is not None and state.serial == validity.serial:
        next_renewal = state.renew_at
    else:
        next_renewal = None  # not chosen yet: the daily job decides on its next run
    common = {
        "last_attempt": _iso(state.last_attempt),
        "last_error": state.last_error,
        "failures": state.failures,
        "next_renewal": _iso(next_renewal),
    }
    problems = [f"last renewal failed: {state.last_error}"] if state.last_error else []
    if validity is None:
        summary = "; ".join(["none (run 'mailctl ssl-setup')", *problems])
        return {"present": False, "warn": True, **common, "summary": summary}
    days = (validity.not_after - now).days
    warn = (validity.not_after - now) < dt.timedelta(days=WARN_DAYS)
    if warn:
        problems.insert(0, "EXPIRED" if days < 0 else f"WARNING: fewer than {WARN_DAYS} days left")
    summary = f"{path}, expires {validity.not_after:%Y-%m-%d} ({days} days left)"
    if next_renewal is not None:
        summary += f", next renewal {next_renewal:%Y-%m-%d %H:%M} UTC"
    return {
        "present": True,
        "not_after": validity.not_after.isoformat(),
        "days_left": days,
        "warn": warn,
        **common,
        "summary": "; ".join([summary, *problems]),
    }
