"""The daily certificate job: renew when the policy (certs/policy.py) says so, record the result.

`renew_if_due` is what the daemon calls once a day; it only imports the
standard library and starts the heavy worker process (certs/runner.py) when a
renewal is actually due. It also fetches the CA's renewal info (ARI, RFC 9773)
that the policy takes into account.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from secumail.certs.der import leaf_validity
from secumail.certs.policy import WARN_DAYS, apply_ari, backoff, choose_renew_at, decide, record_failure
from secumail.certs.state import CertState, load_state, save_state

if TYPE_CHECKING:
    from secumail.certs.paths import CertPaths
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)

ARI_DEFAULT_RETRY = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Outcome:
    """What renew_if_due did: action is 'none', 'renewed' or 'failed'."""

    action: str
    message: str
    next_check: dt.datetime
    days_left: float | None = None
    warn: bool = False
    error: str | None = None


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
    settings: Settings,
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


def _refresh_ari(
    state: CertState, settings: Settings, now: dt.datetime, fetcher: Callable, rng: random.Random
) -> CertState:
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


def _pickup_if_changed(settings: Settings, now: dt.datetime, obtain: Callable | None) -> Outcome:
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


def _paths(settings: Settings) -> CertPaths:
    from secumail.certs.paths import cert_paths

    return cert_paths(settings)


def save_state_quietly(path: str, state: CertState) -> None:
    try:
        save_state(path, state)
    except OSError as exc:
        logger.warning("cannot write %s: %s", path, exc)
