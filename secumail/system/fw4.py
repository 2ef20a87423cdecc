"""fw4 primitive: sections of UCI package `firewall` that secumail owns, planned and written.

A feature says which sections it wants ({name: {".type": t, option: value}}) and which names
are its own (`owns`); sections it owns but no longer wants are deleted, changed ones are
rewritten, everything else in the package (the user's rules, other features') is left alone.
The caller opens the UCI package (secumail.config.open_uci): this layer knows no settings.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from secumail.errors import SecumailError

logger = logging.getLogger(__name__)

PACKAGE = "firewall"
PREFIX = "secumail_"  # every section secumail writes is named secumail_*
WAN_ZONE = "wan"
LAN_ZONE = "lan"
INIT_SCRIPT = "/etc/init.d/firewall"

Sections = dict[str, dict[str, Any]]


def present(confdir: str) -> bool:
    """True where fw4/fw3 configuration exists (OpenWrt): CONFDIR/firewall."""
    return os.path.isfile(os.path.join(confdir, PACKAGE))


def accept_rule(service: str, port: int) -> dict[str, Any]:
    """An fw4 rule opening tcp `port` from wan."""
    return {
        ".type": "rule",
        "name": f"secumail {service}",
        "src": WAN_ZONE,
        "proto": "tcp",
        "dest_port": str(port),
        "target": "ACCEPT",
    }


def current(uci: Any, owns: Callable[[str], bool]) -> Sections:
    """The named sections of package firewall for which `owns(name)` holds."""
    try:
        package = uci.get_all(PACKAGE)
    except Exception as exc:  # noqa: BLE001 - UciException of either backend
        raise SecumailError(f"cannot read UCI package {PACKAGE}: {exc}") from None
    out: Sections = {}
    for name, section in dict(package).items():
        if owns(name) and not section.get(".anonymous"):
            out[name] = {".type": section[".type"]}
            out[name].update({k: v for k, v in section.items() if not k.startswith(".")})
    return out


def plan(have: Sections, want: Sections) -> tuple[list[str], list[str]]:
    """(names to delete, names to write): a section whose type or options differ is rewritten."""
    delete = sorted(name for name in have if have[name] != want.get(name))
    write = sorted(name for name in want if have.get(name) != want[name])
    return delete, write


def write(uci: Any, want: Sections, owns: Callable[[str], bool]) -> bool:
    """Make the owned sections match `want` and commit; True when something changed."""
    delete, to_write = plan(current(uci, owns), want)
    if not delete and not to_write:
        return False
    try:
        for name in delete:
            uci.delete(PACKAGE, name)
        for name in to_write:
            section = want[name]
            uci.set(PACKAGE, name, section[".type"])
            for option, value in section.items():
                if not option.startswith("."):
                    uci.set(PACKAGE, name, option, value)
        uci.commit(PACKAGE)
    except Exception as exc:  # noqa: BLE001 - UciException of either backend
        raise SecumailError(f"cannot update UCI package {PACKAGE}: {exc}") from None
    logger.info("firewall: removed %s, wrote %s", delete or "nothing", to_write or "nothing")
    return True


def reload_firewall() -> None:
    """Make fw4 load the committed package (nothing where there is no init script)."""
    from secumail.system.proc import run

    if os.access(INIT_SCRIPT, os.X_OK):
        result = run([INIT_SCRIPT, "reload"], check=False, timeout=60)
        if not result.ok:
            raise SecumailError(f"{INIT_SCRIPT} reload failed: {(result.stderr or result.stdout).strip()[-200:]}")
