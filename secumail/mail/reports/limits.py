"""The bounds every report is read within (docs/reports.md, "Limits and refusals")."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


class Refused(Exception):  # noqa: N818 - a verdict, not a bug: the reason is the one line shown
    """A report (or message) breaks a rule; str() is the reason shown in `refused`."""


@dataclass(frozen=True)
class Limits:
    message: int = 10 * MiB  # one message file
    attachment: int = 5 * MiB  # a report attachment after base64, before decompression
    unpacked: int = 32 * MiB  # a report after decompression (all zip members together)
    zip_members: int = 4
    mime_depth: int = 8
    depth: int = 16  # XML elements / JSON containers
    records: int = 50_000  # DMARC <record>s, TLS-RPT policies and failure details
    messages: int = 5_000  # message files read per run (the newest)
    seconds: float = 15.0  # reading time per run: the rpcd plugin gives mailctl 20 s


DEFAULT = Limits()
