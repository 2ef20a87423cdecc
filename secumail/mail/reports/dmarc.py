"""DMARC aggregate reports (RFC 7489 appendix C) parsed with expat, refusing every DTD.

No DOCTYPE is accepted at all, so there is no entity to expand (internal,
external or parameter) and nothing is ever fetched. The tree is never built:
the parser keeps the path of open elements, the text of the fields it wants,
and stops at the depth and record limits.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from xml.parsers import expat

from secumail.mail.reports.limits import Limits, Refused

_TEXT_MAX = 1024  # characters kept of one field (a domain or an id is far shorter)
RESULTS = ("pass", "fail", "none", "neutral", "softfail", "temperror", "permerror", "policy")
DISPOSITIONS = ("none", "quarantine", "reject")


@dataclass
class Record:
    source_ip: str
    count: int
    header_from: str
    disposition: str  # none / quarantine / reject
    dkim: str  # policy_evaluated: the aligned DKIM result (pass/fail)
    spf: str  # policy_evaluated: the aligned SPF result (pass/fail)
    dkim_auth: list[tuple[str, str]] = field(default_factory=list)  # auth_results: (domain, result)
    spf_auth: list[tuple[str, str]] = field(default_factory=list)

    @property
    def dmarc_pass(self) -> bool:
        return self.dkim == "pass" or self.spf == "pass"


@dataclass
class AggregateReport:
    org: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    domain: str  # policy_published
    policy: str
    records: list[Record]


_FIELDS = {
    ("feedback", "report_metadata", "org_name"): "org",
    ("feedback", "report_metadata", "report_id"): "report_id",
    ("feedback", "report_metadata", "date_range", "begin"): "begin",
    ("feedback", "report_metadata", "date_range", "end"): "end",
    ("feedback", "policy_published", "domain"): "domain",
    ("feedback", "policy_published", "p"): "policy",
}
_RECORD = ("feedback", "record")
_ROW = {
    ("row", "source_ip"): "source_ip",
    ("row", "count"): "count",
    ("row", "policy_evaluated", "disposition"): "disposition",
    ("row", "policy_evaluated", "dkim"): "dkim",
    ("row", "policy_evaluated", "spf"): "spf",
    ("identifiers", "header_from"): "header_from",
    ("auth_results", "dkim", "domain"): "dkim_domain",
    ("auth_results", "dkim", "result"): "dkim_result",
    ("auth_results", "spf", "domain"): "spf_domain",
    ("auth_results", "spf", "result"): "spf_result",
}


class _Reader:
    """expat handlers: the path of open elements, the wanted texts, records as they close."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.path: list[str] = []
        self.text: list[str] = []
        self.meta: dict[str, str] = {}
        self.row: dict[str, str] = {}
        self.auth: list[tuple[str, str, str]] = []  # (kind, domain, result) of the current record
        self.records: list[Record] = []

    def start(self, name: str, _attrs: dict) -> None:
        name = name.rpartition(" ")[2]  # a namespace URI (DMARCbis) is not part of the name we match
        if not self.path and name != "feedback":
            raise Refused(f"XML root is <{name}>, not a DMARC <feedback>")
        self.path.append(name)
        if len(self.path) > self.limits.depth:
            raise Refused(f"XML nested deeper than {self.limits.depth} elements")
        self.text = []

    def chars(self, data: str) -> None:
        if sum(map(len, self.text)) < _TEXT_MAX:
            self.text.append(data)

    def end(self, _name: str) -> None:
        path = tuple(self.path)
        value = "".join(self.text).strip()[:_TEXT_MAX]
        self.text = []
        if path in _FIELDS:
            self.meta[_FIELDS[path]] = value
        elif path[:2] == _RECORD and len(path) > 2:
            self._record_field(path[2:], value)
        elif path == _RECORD:
            self._close_record()
        self.path.pop()

    def _record_field(self, sub: tuple[str, ...], value: str) -> None:
        key = _ROW.get(sub)
        if key in ("dkim_domain", "spf_domain"):
            self.row[key] = value
        elif key in ("dkim_result", "spf_result"):
            kind = key[:-7]
            self.auth.append((kind, self.row.pop(f"{kind}_domain", ""), value.lower()))
        elif key is not None:
            self.row[key] = value

    def _close_record(self) -> None:
        if len(self.records) >= self.limits.records:
            raise Refused(f"more than {self.limits.records} records")
        self.records.append(_make_record(self.row, self.auth))
        self.row, self.auth = {}, []


def _refuse_dtd(*_args: object) -> None:
    raise Refused("XML with a DOCTYPE (DTDs and entities are refused)")


def _refuse_entity(*_args: object) -> None:
    raise Refused("XML declares or uses an entity (refused)")


def _make_record(row: dict[str, str], auth: list[tuple[str, str, str]]) -> Record:
    try:
        source = str(ipaddress.ip_address(row.get("source_ip", "")))
    except ValueError:
        raise Refused(f"record source_ip {row.get('source_ip', '')[:60]!r} is not an IP address") from None
    count = _whole(row.get("count", ""), "record count")
    header_from = row.get("header_from", "").lower().rstrip(".")
    if not header_from:
        raise Refused(f"record for {source} has no header_from")
    return Record(
        source_ip=source,
        count=count,
        header_from=header_from[:253],
        disposition=_choice(row.get("disposition", "none"), DISPOSITIONS),
        dkim=_choice(row.get("dkim", "fail"), RESULTS),
        spf=_choice(row.get("spf", "fail"), RESULTS),
        dkim_auth=[(d[:253], _choice(r, RESULTS)) for k, d, r in auth if k == "dkim"],
        spf_auth=[(d[:253], _choice(r, RESULTS)) for k, d, r in auth if k == "spf"],
    )


def _choice(value: str, known: tuple[str, ...]) -> str:
    value = value.strip().lower()
    return value if value in known else "other"


def _whole(text: str, what: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise Refused(f"{what} {text[:30]!r} is not a whole number")
    return int(text)


def _when(text: str, what: str) -> dt.datetime:
    seconds = _whole(text, what)
    if seconds > 253402300799:  # after 9999-12-31
        raise Refused(f"{what} {seconds} is out of range")
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def parse(data: bytes, limits: Limits) -> AggregateReport:
    """The report in `data` (XML bytes); Refused with one line when it is hostile or malformed."""
    reader = _Reader(limits)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.SkippedEntityHandler = _refuse_entity
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise Refused(f"not well-formed XML ({expat.ErrorString(exc.code)} at line {exc.lineno})") from None
    except RecursionError:
        raise Refused("XML nested too deeply") from None
    meta = reader.meta
    for key in ("org", "report_id", "begin", "end", "domain"):
        if not meta.get(key):
            raise Refused(f"DMARC report without {key.replace('_', ' ')}")
    begin, end = _when(meta["begin"], "date_range begin"), _when(meta["end"], "date_range end")
    if end < begin:
        raise Refused("date_range ends before it begins")
    return AggregateReport(org=meta["org"][:200], report_id=meta["report_id"][:200], begin=begin, end=end,
                           domain=meta["domain"].lower().rstrip(".")[:253],
                           policy=_choice(meta.get("policy", "none"), DISPOSITIONS), records=reader.records)
