"""mailctl reports: DMARC aggregate and TLS-RPT reports received at our rua addresses (docs/reports.md)."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.appliance.operations import OPERATIONS
from secumail.appliance.schema import Invalid
from secumail.cli.base import operation, table


def register(sub: argparse._SubParsersAction) -> None:
    p = operation(sub, "reports", "reports", "summarise the DMARC and TLS-RPT reports other servers sent us",
                  text=reports_text)
    days = OPERATIONS["reports"].args["days"]
    p.add_argument("--days", type=_days, default=days.default,
                   help=f"reports that ended within the last N days ({days.low:.0f}-{days.high:.0f}, "
                        f"default {days.default})")


def _days(value: str) -> int:
    spec = OPERATIONS["reports"].args["days"]
    try:
        return spec.check("days", value)
    except Invalid:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of days ({spec.low:.0f}-{spec.high:.0f})") from None


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "-"


def _ratio(passed: int, failed: int) -> str:
    return f"{passed}/{failed}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"


def reports_text(data: dict[str, Any]) -> str:
    boxes = ", ".join(f"{b['address']} ({b['messages']} messages)" for b in data["mailboxes"]) or "no mailbox"
    span = f"{_day(data['first'])} to {_day(data['last'])}" if data["first"] else "none in the window"
    lines = [f"Reports that ended in the last {data['days']} days: {span}; read from {boxes}.", ""]
    dmarc = data["dmarc"]
    lines.append(f"DMARC: {dmarc['reports']} report(s) on {dmarc['messages']} message(s): "
                 f"{dmarc['dmarc_pass']} passed, {dmarc['dmarc_fail']} failed (pass/fail per column)")
    rows = [{"source_ip": s["source_ip"], "domain": s["domain"], "messages": s["messages"],
             "spf": _ratio(s["spf_pass"], s["spf_fail"]), "dkim": _ratio(s["dkim_pass"], s["dkim_fail"]),
             "dmarc": _ratio(s["dmarc_pass"], s["dmarc_fail"]), "disposition": _counts(s["dispositions"]),
             "reported_by": ", ".join(s["orgs"])} for s in dmarc["sources"]]
    lines.append(table(rows, ["source_ip", "domain", "messages", "spf", "dkim", "dmarc", "disposition",
                              "reported_by"]))
    if dmarc["orgs"]:
        lines.append("")
        orgs = [{"organisation": o["org"], "reports": o["reports"], "messages": o["messages"],
                 "dmarc": _ratio(o["dmarc_pass"], o["dmarc_fail"]), "from": _day(o["first"]), "to": _day(o["last"])}
                for o in dmarc["orgs"]]
        lines.append(table(orgs, ["organisation", "reports", "messages", "dmarc", "from", "to"]))
    tls = data["tls"]
    lines += ["", f"TLS-RPT: {tls['reports']} report(s): {tls['successful']} successful, {tls['failed']} failed "
                  "session(s)"]
    rows = [{"domain": d["domain"], "policy": d["policy_type"], "successful": d["successful"], "failed": d["failed"],
             "failures": _counts(d["failures"]), "reported_by": ", ".join(d["orgs"])} for d in tls["domains"]]
    lines.append(table(rows, ["domain", "policy", "successful", "failed", "failures", "reported_by"]))
    if data["notes"] or data["refused"]:
        lines.append("")
    lines += [f"note: {n}" for n in data["notes"]]
    lines += [f"refused: {r}" for r in data["refused"]]
    return "\n".join(lines)
