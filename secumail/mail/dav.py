"""Calendars and contacts (features.dav): Radicale in the mail container, logins checked by Dovecot.

Pure like render.py: settings in, files and shell lines out. Debian's Radicale (3.1, no Dovecot auth of
its own) serves CalDAV and CardDAV over TLS on ports.dav with the appliance's certificate; our plugin
(templates/dav/secumail_dovecot_auth.py) asks Dovecot's auth server on AUTH_SOCKET with service=dav, so
the mailbox password and app passwords of scope dav open it and nothing else does. Each mailbox owns
its collections alone (rights owner_only), stored in data_path/dav (backed up with the rest).
Radicale answers /.well-known/caldav and /.well-known/carddav itself (a redirect to its root).
With the feature off nothing of it runs and nothing listens on the port. docs/dav.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

AUTH_LISTENER = "auth-dav"  # Dovecot names a unix_listener below its base_dir (/run/dovecot, dovecot.conf)
AUTH_SOCKET = f"/run/dovecot/{AUTH_LISTENER}"  # the plugin's SOCKET: keep the two in step
PLUGIN = "secumail_dovecot_auth.py"
ETC = "/etc/radicale/secumail"  # config and plugin (PYTHONPATH), put there by the reload script
RUN = "/run/radicale"  # Radicale's own copy of the certificate and key
PID = "/run/radicale/radicale.pid"


def on(settings: Settings) -> bool:
    return bool(settings.features.dav and settings.ports.dav)


def dovecot_listener(settings: Settings) -> str:
    """The auth client socket of `service auth` that Radicale (user radicale) talks to ('' when off)."""
    if not on(settings):
        return ""
    return (f"  # features.dav: Radicale's logins (secumail.mail.dav)\n"
            f"  unix_listener {AUTH_LISTENER} {{\n    mode = 0600\n    user = radicale\n  }}\n")  # fmt: skip


def files(settings: Settings, fill: Any, template: Any, values: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """The generation's Radicale files (none when off)."""
    if not on(settings):
        return {}
    conf = fill(template("dav/radicale.conf"), {**values, "port": settings.ports.dav, "run": RUN})
    return {"dav/radicale.conf": (conf, 0o644), f"dav/{PLUGIN}": (template(f"dav/{PLUGIN}"), 0o644)}


def reload_block(settings: Settings, fill: Any, template: Any) -> str:
    """Shell lines of reload.sh: start (or restart on a change) or stop Radicale."""
    names = {"pid": PID, "etc": ETC, "run": RUN, "port": settings.ports.dav}
    return fill(template("dav-reload.sh" if on(settings) else "dav-off.sh"), names).rstrip("\n")
