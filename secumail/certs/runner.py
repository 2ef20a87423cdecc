"""Parent side of an issuance: start the worker, record the outcome, reload and verify (stdlib only)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
import random
import sys
from typing import TYPE_CHECKING, Any, Callable

from secumail.certs import policy
from secumail.certs.der import leaf_validity, pem_certificates
from secumail.certs.paths import cert_paths
from secumail.certs.services import Target, default_targets, verify_served
from secumail.certs.state import load_state, save_state
from secumail.errors import SecumailError
from secumail.system.files import file_lock
from secumail.system.proc import run

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger(__name__)

WORKER_TIMEOUT = 600


def run_worker(settings: Settings, debug: bool = False) -> dict[str, Any]:
    """Run `python -m secumail.certs.worker` for `settings`; its JSON result."""
    import secumail

    root = os.path.dirname(os.path.dirname(os.path.abspath(secumail.__file__)))
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    payload = pickle.dumps({"settings": settings, "debug": debug})
    result = run(
        [sys.executable, "-m", "secumail.certs.worker"],
        input=payload,
        check=False,
        timeout=WORKER_TIMEOUT,
        env={"PYTHONPATH": pythonpath},
    )
    for line in result.stderr.splitlines():
        logger.debug("worker: %s", line)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = result.stderr.strip().splitlines()
        raise SecumailError(
            f"the certificate worker exited with {result.returncode}: {tail[-1] if tail else 'no output'}"
        ) from None
    return data


def obtain(
    settings: Settings,
    *,
    reload: Callable[[], None] | None = None,
    hand_over: Callable[[], None] | None = None,
    targets: list[Target] | None = None,
    now: dt.datetime | None = None,
    debug: bool = False,
    worker: Callable[..., dict] | None = None,
    verify_timeout: float = 60.0,  # a router's reload under load (Rspamd, ClamAV beside it) takes its time
) -> dict[str, Any]:
    """Get and install a new certificate, reload the services, check what they serve.

    On failure the old files stay, the error is recorded in state.json and
    SecumailError carries one line. `reload` reloads the services (None: they
    are not running); `hand_over` gives the installed certificate and key to the
    container's root (both from the appliance layer, which knows the container).
    """
    paths = cert_paths(settings)
    os.makedirs(paths.ssl_dir, mode=0o755, exist_ok=True)
    now = now or dt.datetime.now(dt.timezone.utc)
    with file_lock(paths.lock):
        before = leaf_validity(paths.fullchain)
        data = (worker or run_worker)(settings, debug=debug)
        state = load_state(paths.state)
        if not data.get("ok"):
            error = data.get("error") or "unknown error"
            days_left = (before.not_after - now).total_seconds() / 86400 if before else None
            save_state(paths.state, policy.record_failure(state, error, now, days_left))
            raise SecumailError(error)
        if hand_over is not None:
            hand_over()  # the unprivileged container's root reads the key (running or not)
        validity = leaf_validity(paths.fullchain)
        if validity is None:
            raise SecumailError(f"the worker reported success but {paths.fullchain} is unreadable")
        state = policy.record_success(state, validity, now, data.get("ari_url"), random.Random())  # noqa: S311 - jitter
        state.extra = {
            "names": data.get("names"),
            "source": data.get("source"),
            "timings": data.get("timings"),
        }
        save_state(paths.state, state)
    logger.info(
        "installed a certificate for %s, valid until %s",
        ", ".join(data.get("names") or []),
        validity.not_after.isoformat(),
    )
    reloader = reload
    data["services"] = "not running: they will read the new certificate when they start"
    if reloader is not None:
        with open(paths.fullchain, "rb") as handle:
            leaf_der = pem_certificates(handle.read())[0]
        try:
            reloader()
            verify_served(
                targets if targets is not None else default_targets(settings),
                leaf_der,
                timeout=verify_timeout,
                server_name=settings.main.fqdn,
            )
        except SecumailError as exc:
            state = load_state(paths.state)
            state.last_error = str(exc)
            save_state(paths.state, state)
            raise
        data["services"] = "reloaded; the new certificate is served"
    data["replaced_serial"] = before.serial if before else None
    return data
