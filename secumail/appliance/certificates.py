"""Certificate operations: issue, status, renewal, with the container's reload and hand-over handed in."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Callable

from secumail.appliance.operations import Call, Reported, plain
from secumail.config.settings import Settings


def obtain(settings: Settings, *, reload: bool = True, debug: bool = False) -> dict[str, Any]:
    """certs.runner.obtain for this appliance: the key goes to the container's root, the services reload."""
    from secumail.appliance.ownership import hand_over
    from secumail.appliance.spec import running_executor
    from secumail.certs import runner
    from secumail.certs.services import container_reloader

    give = _giver(settings, hand_over)
    reloader = container_reloader(settings, running_executor(settings), give) if reload else None
    return runner.obtain(settings, reload=reloader, hand_over=give, debug=debug)


def _giver(settings: Settings, hand_over: Callable[..., None]) -> Callable[[], None]:
    return lambda: hand_over(settings, "ssl")


def ssl_setup(call: Call, force: bool, staging: bool, no_reload: bool) -> dict[str, Any]:
    from secumail.certs.status import up_to_date

    settings = call.settings
    if staging:
        settings = dataclasses.replace(settings, ssl=dataclasses.replace(settings.ssl, type="letsencrypt-staging"))
    if not force:
        reason = up_to_date(settings, dt.datetime.now(dt.timezone.utc))
        if reason:
            return {"result": "unchanged", "message": f"{reason} (use --force to renew now)"}
    data = obtain(settings, reload=not no_reload, debug=call.debug)
    return {
        "result": "issued",
        "source": data.get("source"),
        "names": data.get("names"),
        "not_after": data.get("not_after"),
        "services": data.get("services") if not no_reload else "not reloaded (--no-reload)",
        "seconds": data.get("timings", {}).get("installed"),
    }


def ssl_status(call: Call) -> dict[str, Any]:
    from secumail.certs.status import ssl_status as collect

    return collect(call.settings)


def ssl_renew(call: Call) -> Any:
    """The daily renewal: renew when due; a failed renewal is reported with its outcome."""
    from secumail.certs.renewal import renew_if_due

    outcome = renew_if_due(call.settings, obtain=obtain)
    data = plain(outcome)
    if data.get("action") == "failed":
        return Reported(data, message=f"certificate renewal failed: {data.get('error') or data.get('message')}")
    return data
