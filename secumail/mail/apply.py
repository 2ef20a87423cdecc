"""Make the running mail services see changed account files: the one hook between accounts and runtime.

Postfix reads the texthash: maps when its processes start, so a map change
needs `postfix reload`; Dovecot re-reads its passwd-file by itself, but its
auth cache may still hold an old password, so that is flushed. A new or
deleted domain changes the rendered config (virtual domains, OpenDKIM
tables), so it goes through a full deploy. When the container is not
installed or not running there is nothing to tell: the files are read at the
next start.

The mail layer does not know where the services run: the caller (the
appliance layer) hands in a `MailRuntime`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Protocol

from secumail.mail.store import DOVECOT_FILES

if TYPE_CHECKING:
    from secumail.config.settings import Settings

log = logging.getLogger(__name__)

MAPS = ("vdomains", "vmailbox", "valias", "vsenders")


class MailRuntime(Protocol):
    """Where the mail services run, as the mail layer needs it."""

    def running(self) -> Any:  # -> deploy.Executor | None: the running container, None when not running
        ...

    def hand_over(self, *subs: str) -> None:
        """Give files below data_path/<sub> to the container's root, so the services can read them."""
        ...


def on_accounts_changed(settings: Settings, what: str, changed: list[str], runtime: MailRuntime | None) -> None:
    executor = runtime.running() if runtime is not None else None
    if executor is None:
        log.info("mail container not running; account change (%s) takes effect at next start", what)
        return
    from secumail.mail import deploy

    if what == "domain":
        deploy.deploy(settings, executor, hand_over=runtime.hand_over)
        return
    if any(name in MAPS for name in changed):
        deploy.run_checked(executor, ["postfix", "reload"])
    passwords = [name for name in changed if name in DOVECOT_FILES]
    if passwords:
        # A password file made while the container ran is root-only: give Dovecot's group read access
        # (on the host: config/ is read-only in the container).
        runtime.hand_over("config")
        # Dovecot re-reads a passwd-file at most once a second: flushing the auth cache in the
        # second of the write could re-cache the old password for auth_cache_ttl. Past that second
        # the next login reads the new file: a changed or revoked password is refused at once
        # (tests/integration/mail/test_app_passwords.py; passwd-file lookups are not cached in 2.3).
        for name in passwords:
            _wait_past_mtime(os.path.join(settings.layout.config, name))
        deploy.run_checked(executor, ["doveadm", "auth", "cache", "flush"])


def _wait_past_mtime(path: str) -> None:
    try:
        stamp = int(os.stat(path).st_mtime)
    except OSError:
        return
    delay = stamp + 1.05 - time.time()
    if delay > 0:
        time.sleep(min(delay, 2.1))
