"""When to renew: the certificate renewal policy, pure (time and randomness are arguments).

The unit tests drive it with a fake clock; the daily job (certs/renewal.py)
and the status views (certs/status.py, certs/brief.py) read it.

- renew inside the CA's ARI window (RFC 9773) when the CA offers one, at a
  random moment in it (chosen once per certificate);
- otherwise at 2/3 of the lifetime, minus a random jitter of up to 1/20 of
  the lifetime (so that many routers do not ask at the same second);
- after a failure keep the old certificate and retry after 1 h, 2 h, 4 h, …
  capped at 12 h (at 1 h once fewer than 7 days are left);
- warn when fewer than 14 days are left.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from secumail.certs.der import Validity
from secumail.certs.state import AriInfo, CertState

WARN_DAYS = 14
BACKOFF_BASE = dt.timedelta(hours=1)
BACKOFF_CAP = dt.timedelta(hours=12)
URGENT = dt.timedelta(days=7)


@dataclass(frozen=True)
class Decision:
    due: bool
    renew_at: dt.datetime | None  # when the certificate should be renewed (None: no certificate)
    not_before_retry: dt.datetime | None  # backoff: no attempt before this
    reason: str
    days_left: float | None
    warn: bool


def default_renew_at(validity: Validity, rng: random.Random) -> dt.datetime:
    lifetime = validity.lifetime
    jitter = lifetime / 20 * rng.random()
    return validity.not_before + lifetime * 2 / 3 - jitter


def ari_renew_at(ari: AriInfo, rng: random.Random) -> dt.datetime | None:
    if ari.start is None or ari.end is None or ari.end < ari.start:
        return None
    return ari.start + (ari.end - ari.start) * rng.random()


def choose_renew_at(validity: Validity, state: CertState, rng: random.Random) -> dt.datetime:
    """The renewal moment for this certificate: kept once chosen, from ARI when known."""
    if state.serial == validity.serial and state.renew_at is not None:
        return state.renew_at
    if state.ari is not None and state.serial == validity.serial:
        chosen = ari_renew_at(state.ari, rng)
        if chosen is not None:
            return chosen
    return default_renew_at(validity, rng)


def backoff(failures: int, days_left: float | None) -> dt.timedelta:
    if failures <= 0:
        return dt.timedelta(0)
    if days_left is not None and days_left < URGENT.days:
        return BACKOFF_BASE
    return min(BACKOFF_BASE * (2 ** (failures - 1)), BACKOFF_CAP)


def decide(validity: Validity | None, state: CertState, now: dt.datetime, rng: random.Random) -> Decision:
    """Pure: whether to renew now. Call `choose_renew_at` semantics; never mutates `state`."""
    if validity is None:
        retry = _retry_time(state, None)
        due = retry is None or now >= retry
        return Decision(due, None, retry, "there is no certificate", None, True)
    days_left = (validity.not_after - now).total_seconds() / 86400
    renew_at = choose_renew_at(validity, state, rng)
    retry = _retry_time(state, days_left)
    warn = days_left < WARN_DAYS
    if now < renew_at:
        return Decision(False, renew_at, retry, "not due yet", days_left, warn)
    if retry is not None and now < retry:
        return Decision(False, renew_at, retry, "waiting after a failed attempt", days_left, warn)
    reason = "expired" if days_left <= 0 else "renewal window reached"
    return Decision(True, renew_at, retry, reason, days_left, warn)


def _retry_time(state: CertState, days_left: float | None) -> dt.datetime | None:
    if state.failures <= 0 or state.last_attempt is None:
        return None
    return state.last_attempt + backoff(state.failures, days_left)


def record_success(
    state: CertState, validity: Validity, now: dt.datetime, ari_url: str | None, rng: random.Random
) -> CertState:
    """State after a new certificate was installed."""
    state.serial = validity.serial
    state.last_attempt = now
    state.last_success = now
    state.last_error = None
    state.failures = 0
    state.next_attempt = None
    state.ari = AriInfo(ari_url) if ari_url else None
    state.renew_at = default_renew_at(validity, rng)
    return state


def record_failure(state: CertState, error: str, now: dt.datetime, days_left: float | None) -> CertState:
    state.last_attempt = now
    state.last_error = error
    state.failures += 1
    state.next_attempt = now + backoff(state.failures, days_left)
    return state


def apply_ari(
    state: CertState,
    window: tuple[dt.datetime, dt.datetime] | None,
    retry_after: dt.datetime,
    rng: random.Random,
) -> CertState:
    """Take a fetched ARI window; pick a new moment only when the window moved (RFC 9773 4.3)."""
    if state.ari is None:
        return state
    if window is not None and (state.ari.start, state.ari.end) != window:
        state.ari.start, state.ari.end = window
        state.renew_at = ari_renew_at(state.ari, rng)
    state.ari.retry_after = retry_after
    return state
