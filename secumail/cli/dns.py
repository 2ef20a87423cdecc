"""mailctl dns-setup|dns-check: publish and check the domain's DNS records."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import operation, table


def register(sub: argparse._SubParsersAction) -> None:
    p = operation(
        sub, "dns-setup", "dns-setup", "create MX, SPF, DKIM, DMARC, SRV, ... through the DNS provider", text=setup_text
    )
    p.add_argument("domain", nargs="?", help="one domain (default: all)")
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument("--force", action="store_true", help="replace foreign SPF/DMARC records")
    p = operation(sub, "dns-check", "dns-check", "check the published records against the expected ones",
                  text=check_text)
    p.add_argument("domain", nargs="?", help="one domain (default: all)")


def _short(values: list[str], width: int = 72) -> str:
    text = " | ".join(values) if values else "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def setup_text(data: dict[str, Any]) -> str:
    lines = [f"DNS provider: {data['provider']}"]
    rows = [
        {
            "action": c["action"],
            "name": c["name"],
            "type": c["type"],
            "value": _short(c["new"] if c["new"] else c["old"]),
        }
        for c in data["changes"]
    ]
    if data.get("zone_lines") is not None:
        lines.append("Add these records to your zone, then run 'mailctl dns-check':")
        lines.extend(data["zone_lines"] or ["(nothing: every record is already published)"])
    elif not rows:
        lines.append("Nothing to do: every record is published.")
    else:
        lines.append("Planned changes (dry run, nothing changed):" if data["dry_run"] else "Changes applied:")
        lines.append(table(rows, ["action", "name", "type", "value"]))
    for note in data["notes"]:
        lines.append(f"note: {note}")
    for c in data["conflicts"]:
        lines.append(f"CONFLICT {c['name']} {c['type']}: {c['reason']}; found {_short(c['found'], 60)}")
    return "\n".join(lines)


def check_text(data: dict[str, Any]) -> str:
    rows = [
        {
            "status": r["status"],
            "name": r["name"],
            "type": r["type"],
            "expected": _short(r["expected"], 40),
            "found": _short(r["found"], 40),
        }
        for r in data["records"]
    ]
    lines = [table(rows, ["status", "name", "type", "expected", "found"]), ""]
    crow = [{"status": c["status"], "check": c["check"], "detail": c["detail"]} for c in data["checks"]]
    lines.append(table(crow, ["status", "check", "detail"]))
    lines.append("")
    lines.append(
        "All required records are correct."
        if data["ok"]
        else f"{data['failed']} required item(s) wrong: see the rows marked missing/different/fail."
    )
    return "\n".join(lines)
