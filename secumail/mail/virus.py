"""Virus scanning's files (features.virus_scan): clamd, clamav-milter, freshclam.

Pure like render.py: settings in, {relative path: (content, mode)} out. clamav-milter is Postfix's
first milter on port 25 and on submission, with the spam filter on or off (one path for both: Rspamd's
antivirus module would cover port 25 only while Rspamd runs). Signatures live in data_path/clamav,
mounted on /var/lib/clamav: freshclam's downloads survive image updates, and a router without the
Internet is seeded by copying files there. docs/protection.md explains the choices and the memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

MILTER_SOCKET = "/var/spool/postfix/clamav/clamav-milter.ctl"  # in the queue dir: Postfix reaches it
SIGNATURES = "/var/lib/clamav"  # inside the container: data_path/clamav
# File name endings clamd loads signatures from (official .cvd/.cld, and the custom kinds).
SIGNATURE_TYPES = ("cvd", "cld", "cud", "hdb", "hsb", "mdb", "msb", "ndb", "ldb", "cdb", "idb", "cbc",
                   "yar", "yara")  # fmt: skip
# The waiter without signatures looks for them this often (seconds; shell builtins, no process).
SIGNATURE_POLL_S = 2
# How long clamav-milter's start waits for clamd to answer PING (polled every second).
CLAMD_PING_WAIT_S = 60
# Mail above this is passed unscanned (clamd's StreamMaxLength): scanning costs memory by size.
SCAN_LIMIT_MB = 25


def milter(settings: Settings) -> str:
    """The milter address for Postfix ('' when virus scanning is off)."""
    return f"unix:{MILTER_SOCKET}" if settings.features.virus_scan else ""


def has_signatures(names: list[str]) -> bool:
    """Whether a directory listing holds a file clamd loads signatures from."""
    return any(name.rsplit(".", 1)[-1] in SIGNATURE_TYPES for name in names if "." in name)


def _values(settings: Settings) -> dict[str, Any]:
    return {"milter_socket": MILTER_SOCKET, "signature_globs": "|".join(f"*.{kind}" for kind in SIGNATURE_TYPES),
            "signature_poll": SIGNATURE_POLL_S, "ping_wait": CLAMD_PING_WAIT_S,
            "scan_limit": min(SCAN_LIMIT_MB, settings.main.message_size_limit)}  # fmt: skip


def files(settings: Settings, fill: Any, template: Any) -> dict[str, tuple[str, int]]:
    """Every virus scanning file of one generation (none when it is off).

    `fill`/`template` are render.fill and render._template (passed in: render imports this module)."""
    if not settings.features.virus_scan:
        return {}
    values = _values(settings)
    out = {f"clamav/{name}": (fill(template(f"clamav/{name}"), values), 0o644)
           for name in ("clamd.conf", "clamav-milter.conf", "freshclam.conf")}  # fmt: skip
    out["clamav/secumail-clamav"] = (fill(template("clamav/secumail-clamav"), values), 0o755)
    return out


def reload_block(settings: Settings, fill: Any, template: Any) -> str:
    if not settings.features.virus_scan:
        return template("virus-off.sh").rstrip("\n")
    return fill(template("virus-reload.sh"), _values(settings)).rstrip("\n")
