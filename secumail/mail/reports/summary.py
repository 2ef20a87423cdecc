"""Reports → the summary mailctl and LuCI show (docs/reports.md, "What is shown")."""

from __future__ import annotations

import datetime as dt
from typing import Any

from secumail.mail.reports.dmarc import AggregateReport
from secumail.mail.reports.tlsrpt import TlsReport

Report = AggregateReport | TlsReport


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if when else None


class Summary:
    """Adds reports once each (by kind, organisation and report id) if they end in the window."""

    def __init__(self, since: dt.datetime) -> None:
        self.since = since
        self.seen: set[tuple[str, str, str]] = set()
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.dmarc_reports = 0
        self.tls_reports = 0
        self.sources: dict[tuple[str, str], dict[str, Any]] = {}
        self.orgs: dict[str, dict[str, Any]] = {}
        self.tls: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, report: Report) -> bool:
        """Count `report`; False when it is a duplicate or ended before the window."""
        key = ("tls" if isinstance(report, TlsReport) else "dmarc", report.org, report.report_id)
        if key in self.seen or report.end < self.since:
            return False
        self.seen.add(key)
        self.first = min(self.first or report.begin, report.begin)
        self.last = max(self.last or report.end, report.end)
        if isinstance(report, TlsReport):
            self._add_tls(report)
        else:
            self._add_dmarc(report)
        return True

    def _add_dmarc(self, report: AggregateReport) -> None:
        self.dmarc_reports += 1
        org = self.orgs.setdefault(report.org, {"org": report.org, "reports": 0, "messages": 0, "dmarc_pass": 0,
                                                "dmarc_fail": 0, "first": report.begin, "last": report.end})
        org["reports"] += 1
        org["first"], org["last"] = min(org["first"], report.begin), max(org["last"], report.end)
        for rec in report.records:
            row = self.sources.setdefault((rec.source_ip, rec.header_from), {
                "source_ip": rec.source_ip, "domain": rec.header_from, "messages": 0, "spf_pass": 0, "spf_fail": 0,
                "dkim_pass": 0, "dkim_fail": 0, "dmarc_pass": 0, "dmarc_fail": 0, "dispositions": {}, "orgs": []})
            row["messages"] += rec.count
            row["spf_pass" if rec.spf == "pass" else "spf_fail"] += rec.count
            row["dkim_pass" if rec.dkim == "pass" else "dkim_fail"] += rec.count
            verdict = "dmarc_pass" if rec.dmarc_pass else "dmarc_fail"
            row[verdict] += rec.count
            row["dispositions"][rec.disposition] = row["dispositions"].get(rec.disposition, 0) + rec.count
            if report.org not in row["orgs"]:
                row["orgs"].append(report.org)
            org["messages"] += rec.count
            org[verdict] += rec.count

    def _add_tls(self, report: TlsReport) -> None:
        self.tls_reports += 1
        for pol in report.policies:
            row = self.tls.setdefault((pol.domain, pol.policy_type), {
                "domain": pol.domain, "policy_type": pol.policy_type, "successful": 0, "failed": 0, "failures": {},
                "orgs": []})
            row["successful"] += pol.successful
            row["failed"] += pol.failed
            for kind, n in pol.failures.items():
                row["failures"][kind] = row["failures"].get(kind, 0) + n
            if report.org not in row["orgs"]:
                row["orgs"].append(report.org)

    def data(self) -> dict[str, Any]:
        """The JSON-ready summary (without the mailbox/notes/refused parts collect adds)."""
        sources = sorted(self.sources.values(), key=lambda r: (-r["dmarc_fail"], -r["messages"], r["source_ip"]))
        orgs = sorted(self.orgs.values(), key=lambda r: (-r["messages"], r["org"]))
        for org in orgs:
            org["first"], org["last"] = _iso(org["first"]), _iso(org["last"])
        tls = sorted(self.tls.values(), key=lambda r: (-r["failed"], r["domain"], r["policy_type"]))
        return {
            "first": _iso(self.first),
            "last": _iso(self.last),
            "dmarc": {
                "reports": self.dmarc_reports,
                "messages": sum(r["messages"] for r in sources),
                "dmarc_pass": sum(r["dmarc_pass"] for r in sources),
                "dmarc_fail": sum(r["dmarc_fail"] for r in sources),
                "sources": sources,
                "orgs": orgs,
            },
            "tls": {
                "reports": self.tls_reports,
                "successful": sum(r["successful"] for r in tls),
                "failed": sum(r["failed"] for r in tls),
                "domains": tls,
            },
        }
