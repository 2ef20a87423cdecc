"""The one place the mail layer reaches the container runtime (secumail.container).

Kept apart so the account code works with no container at all (a router
before `mailctl install`, the unit tests) and so a change of the runtime API
touches one function.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from secumail.errors import SecumailError

log = logging.getLogger(__name__)


def running_executor(settings: Any):  # -> deploy.Executor | None
    """The mail container when it exists and runs, else None."""
    try:
        from secumail.container.runtime import Container
    except ImportError:
        return None
    lxc_path = settings.container.lxc_path
    if not os.path.isabs(lxc_path) or not os.path.isdir(os.path.join(lxc_path, settings.main.container)):
        return None
    container = Container(settings.main.container, lxc_path)
    try:
        return container if container.running() else None
    except SecumailError as exc:  # lxc tools missing or unusable: nothing is running that we could tell
        log.info("mail container state unknown (%s); not reloading", exc)
        return None
