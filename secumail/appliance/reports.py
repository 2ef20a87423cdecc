"""Reports received (DMARC aggregate, TLS-RPT): the mail layer's summary of the report mailboxes."""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call


def reports(call: Call, days: int) -> dict[str, Any]:
    from secumail.mail.reports.collect import collect

    return collect(call.settings, days)
