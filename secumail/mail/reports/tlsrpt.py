"""TLS-RPT reports (RFC 8460 section 4): JSON checked field by field before anything is counted."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from secumail.mail.reports.limits import Limits, Refused


@dataclass
class PolicyResult:
    domain: str  # policy-domain: the receiving domain the sessions were for (ours)
    policy_type: str  # sts / tlsa / no-policy-found
    successful: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)  # result-type → failed sessions


@dataclass
class TlsReport:
    org: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    policies: list[PolicyResult]


def _depth(value: Any, limit: int) -> None:
    """Refused when containers nest deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > limit:
                raise Refused(f"JSON nested deeper than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Refused(f"TLS-RPT {where}{key} missing or not a {kind.__name__}")
    return value


def _count(obj: Any, key: str, where: str) -> int:
    value = obj.get(key, 0) if isinstance(obj, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**12:
        raise Refused(f"TLS-RPT {where}{key} is not a whole number >= 0")
    return value


def _when(text: str, what: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(f"TLS-RPT {what} {text[:40]!r} is not an RFC 3339 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def parse(data: bytes, limits: Limits) -> TlsReport:
    """The report in `data` (JSON bytes); Refused with one line when malformed."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused("TLS-RPT report is not UTF-8") from None
    except RecursionError:
        raise Refused(f"JSON nested deeper than {limits.depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, and integers of too many digits
        raise Refused(f"not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise Refused("TLS-RPT report is not a JSON object")
    _depth(doc, limits.depth)
    dates = _get(doc, "date-range", dict, "")
    begin = _when(_get(dates, "start-datetime", str, "date-range."), "start-datetime")
    end = _when(_get(dates, "end-datetime", str, "date-range."), "end-datetime")
    if end < begin:
        raise Refused("TLS-RPT date-range ends before it begins")
    policies = _get(doc, "policies", list, "")
    details = sum(len(_details(p, n)) for n, p in enumerate(policies))
    if len(policies) + details > limits.records:
        raise Refused(f"TLS-RPT report with more than {limits.records} policies and failure details")
    return TlsReport(
        org=_get(doc, "organization-name", str, "")[:200],
        report_id=_get(doc, "report-id", str, "")[:200],
        begin=begin,
        end=end,
        policies=[_policy(item, n) for n, item in enumerate(policies)],
    )


def _details(item: Any, n: int) -> list:
    details = item.get("failure-details", []) if isinstance(item, dict) else []
    if not isinstance(details, list):
        raise Refused(f"TLS-RPT policies[{n}].failure-details is not a list")
    return details


def _policy(item: Any, n: int) -> PolicyResult:
    where = f"policies[{n}]."
    policy = _get(item, "policy", dict, where)
    summary = _get(item, "summary", dict, where)
    failures: dict[str, int] = {}
    for m, detail in enumerate(_details(item, n)):
        kind = _get(detail, "result-type", str, f"{where}failure-details[{m}].").strip().lower()[:64]
        failures[kind] = failures.get(kind, 0) + _count(detail, "failed-session-count", f"{where}failure-details[{m}].")
    return PolicyResult(
        domain=_get(policy, "policy-domain", str, f"{where}policy.").strip().lower().rstrip(".")[:253],
        policy_type=_get(policy, "policy-type", str, f"{where}policy.").strip().lower()[:32],
        successful=_count(summary, "total-successful-session-count", f"{where}summary."),
        failed=_count(summary, "total-failure-session-count", f"{where}summary."),
        failures=failures,
    )
