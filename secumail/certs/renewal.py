"""When to renew, and the daily job that does it.

The policy functions are pure (time and randomness are arguments) so the
unit tests drive them with a fake clock. `renew_if_due` is what the daemon
calls once a day; it only imports the standard library and starts the heavy
worker process when a renewal is actually due.

Policy:
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
import json
import logging
import random
from dataclasses import dataclass
from typing import Callable

from secumail.certs.der import Validity, leaf_validity
from secumail.certs.state import AriInfo, CertState, load_state, save_state

logger = logging.getLogger(__name__)

WARN_DAYS = 14
BACKOFF_BASE = dt.timedelta(hours=1)
BACKOFF_CAP = dt.timedelta(hours=12)
URGENT = dt.timedelta(days=7)
ARI_DEFAULT_RETRY = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Decision:
    due: bool
    renew_at: dt.datetime | None  # when the certificate should be renewed (None: no certificate)
    not_before_retry: dt.datetime | None  # backoff: no attempt before this
    reason: str
    days_left: float | None
    warn: bool


@dataclass(frozen=True)
class Outcome:
    """What renew_if_due did: action is 'none', 'renewed' or 'failed'."""

    action: str
    message: str
    next_check: dt.datetime
    days_left: float | None = None
    warn: bool = False
    error: str | None = None


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


# --- ARI fetch (stdlib only: the daemon does this without the worker) --------------------


def fetch_ari(
    url: str, ca_bundle: str | None, now: dt.datetime, timeout: float = 10
) -> tuple[tuple[dt.datetime, dt.datetime], dt.datetime]:
    """GET a renewalInfo resource: (suggested window, when to ask again)."""
    import ssl  # here, not at the top: `mailctl status` reads WARN_DAYS without paying for them
    import urllib.request

    context = ssl.create_default_context(cafile=ca_bundle or None)
    if not url.startswith("https://"):
        raise ValueError(f"renewal info URL is not https: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "secumail"})  # noqa: S310 - https only
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 - https only
        body = json.loads(response.read(65536))
        retry_header = response.headers.get("Retry-After")
    window = body["suggestedWindow"]
    start = _parse_time(window["start"])
    end = _parse_time(window["end"])
    retry = now + ARI_DEFAULT_RETRY
    if retry_header and retry_header.strip().isdigit():
        # RFC 9773: clamp to between one minute and one day
        seconds = min(max(int(retry_header.strip()), 60), 86400)
        retry = now + dt.timedelta(seconds=seconds)
    return (start, end), retry


def _parse_time(text: str) -> dt.datetime:
    text = text.strip().replace("Z", "+00:00")
    if "." in text:  # fromisoformat in 3.9/3.10 takes at most 6 fractional digits
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


# --- the daily job -----------------------------------------------------------------------


def renew_if_due(
    settings,
    now: dt.datetime | None = None,
    *,
    obtain: Callable | None = None,
    ari_fetcher: Callable | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    """The daemon's daily certificate job: renew when due, record the result, never raise.

    `obtain(settings)` installs a new certificate (default: runner.obtain, the
    worker process + reload + verify) and raises SecumailError on failure.
    """
    from secumail.certs.paths import cert_paths
    from secumail.errors import SecumailError

    now = now or dt.datetime.now(dt.timezone.utc)
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    paths = cert_paths(settings)
    if settings.ssl.type == "openwrt-acme":
        return _pickup_if_changed(settings, now, obtain)
    validity = leaf_validity(paths.fullchain)
    state = load_state(paths.state)
    if validity is not None and state.serial != validity.serial:
        state.serial, state.renew_at, state.ari = validity.serial, None, None  # replaced by hand
    if (
        validity is not None
        and state.ari is not None
        and (state.ari.retry_after is None or now >= state.ari.retry_after)
    ):
        state = _refresh_ari(state, settings, now, ari_fetcher or fetch_ari, rng)
    if validity is not None and state.renew_at is None:
        state.renew_at = choose_renew_at(validity, state, rng)
    decision = decide(validity, state, now, rng)
    next_check = now + dt.timedelta(days=1)
    if not decision.due:
        save_state_quietly(paths.state, state)
        if decision.renew_at is not None:
            next_check = min(next_check, max(decision.renew_at, now + dt.timedelta(minutes=1)))
        if decision.not_before_retry is not None:
            next_check = min(next_check, max(decision.not_before_retry, now + dt.timedelta(minutes=1)))
        if decision.warn and decision.days_left is not None:
            logger.warning("certificate expires in %.1f days (%s)", decision.days_left, state.last_error or "no error")
        return Outcome("none", decision.reason, next_check, decision.days_left, decision.warn, state.last_error)
    if obtain is None:
        from secumail.certs.runner import obtain as obtain  # noqa: PLW0127
    try:
        obtain(settings)  # takes the ssl lock, records its own failure
    except SecumailError as exc:
        message = str(exc)
        state = load_state(paths.state)  # obtain() records its failures; a fake may not
        if state.last_error != message:
            state = record_failure(state, message, now, decision.days_left)
            save_state_quietly(paths.state, state)
        logger.error("certificate renewal failed: %s", message)
        retry = now + backoff(max(state.failures, 1), decision.days_left)
        return Outcome("failed", message, min(next_check, retry), decision.days_left, decision.warn, message)
    fresh = leaf_validity(paths.fullchain)
    days_left = (fresh.not_after - now).total_seconds() / 86400 if fresh else None
    logger.info("certificate renewed (%s); %.0f days left", decision.reason, days_left or 0)
    return Outcome("renewed", f"renewed: {decision.reason}", next_check, days_left, False, None)


def _refresh_ari(state: CertState, settings, now: dt.datetime, fetcher: Callable, rng: random.Random) -> CertState:
    from secumail.certs.ca import ca_bundle_for

    if state.ari is None:
        return state
    try:
        window, retry = fetcher(state.ari.url, ca_bundle_for(settings), now)
    except Exception as exc:  # noqa: BLE001 - ARI is advisory: fall back to the lifetime rule
        logger.info("renewal info from %s not available: %s", state.ari.url, exc)
        state.ari.retry_after = now + ARI_DEFAULT_RETRY
        return state
    return apply_ari(state, window, retry, rng)


def _pickup_if_changed(settings, now: dt.datetime, obtain: Callable | None) -> Outcome:
    from secumail.certs.openwrt import source_changed
    from secumail.errors import SecumailError

    next_check = now + dt.timedelta(days=1)
    if not source_changed(settings):
        validity = leaf_validity(_paths(settings).fullchain)
        days = (validity.not_after - now).total_seconds() / 86400 if validity else None
        warn = days is None or days < WARN_DAYS
        return Outcome("none", "OpenWrt's acme certificate is unchanged", next_check, days, warn)
    if obtain is None:
        from secumail.certs.runner import obtain as obtain  # noqa: PLW0127
    try:
        obtain(settings)
    except SecumailError as exc:
        return Outcome("failed", str(exc), now + dt.timedelta(hours=1), None, True, str(exc))
    return Outcome("renewed", "picked up OpenWrt's acme certificate", next_check)


def _paths(settings):
    from secumail.certs.paths import cert_paths

    return cert_paths(settings)


def save_state_quietly(path: str, state: CertState) -> None:
    try:
        save_state(path, state)
    except OSError as exc:
        logger.warning("cannot write %s: %s", path, exc)
