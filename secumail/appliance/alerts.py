"""Alert mails: diagnose's checks, run by secumaild, mailed once per problem and once when resolved.

A problem is a watched diagnose check (WATCHED) in one of its problem states; it is keyed by
check id + state, so a warn that becomes a fail is a new problem, and the same problem seen by
the next run is not mailed again. `advance` is the pure state machine (the report in, the
notices due out); a notice is recorded as sent (`mark_sent`) only once the mail is handed to
Postfix, so a failed submission is tried again at the next run. The state file
(DataLayout.alerts_state, format in docs/operating.md) keeps what was sent across restarts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from secumail.config.settings import Settings

DAY = 86400.0
VERSION = 1


@dataclass(frozen=True)
class Watch:
    """Which states of a check are a problem worth a mail, and how long one must last first."""

    states: tuple[str, ...]
    hold: float = 0.0  # seconds (of the daemon's scaled time: the job divides by --time-scale)


# The conditions, each on the diagnose check that measures it (docs/operating.md, Alerts):
WATCHED: dict[str, Watch] = {
    "certificate": Watch(("warn", "fail")),  # renewal failing, < 14 days left, names missing, expired
    "backup": Watch(("warn",)),  # older than 2 × mesh.sync_interval, or none yet
    "peers": Watch(("warn",), hold=DAY),  # a peer not reached, for a day
    "queue": Watch(("fail",)),  # a message queued longer than 4 h
    "disk": Watch(("warn", "fail")),  # ≥ 90 % used
    "inodes": Watch(("warn", "fail")),
    "dnsbl": Watch(("fail",)),  # the public address is listed
}
# Not the container itself: the mail goes out through it, and secumaild starts it again anyway.


@dataclass(frozen=True)
class Notice:
    """One mail to send: a problem appeared, one was resolved, or the day's digest."""

    kind: str  # problem | resolved | digest
    id: str  # the check id; "digest" for the digest
    status: str
    name: str
    detail: str
    hint: str = ""


def new_state() -> dict[str, Any]:
    return {"version": VERSION, "open": {}, "digest": None}


def advance(state: dict[str, Any], report: dict[str, Any], now: float, *, scale: float = 1.0,
            digest: bool = False) -> tuple[dict[str, Any], list[Notice]]:  # fmt: skip
    """The state after seeing `report` (diagnose's), and the notices now due. Pure: nothing is marked
    sent here. A watched check that is ok or skipped resolves its problem; one that is absent, or in a
    state that is neither ok nor a problem (a check that did not finish), changes nothing."""
    # a check no longer watched (a newer version watches others) is dropped without a mail
    opened: dict[str, dict[str, Any]] = {k: dict(v) for k, v in state.get("open", {}).items() if k in WATCHED}
    skipped = {row["id"] for row in report.get("skipped", ())}
    for row in report.get("checks", ()):
        watch = WATCHED.get(row["id"])
        if watch is None:
            continue
        entry = opened.get(row["id"])
        if row["status"] in watch.states:
            if entry is None or entry["status"] != row["status"]:
                since = entry["since"] if entry is not None and entry.get("resolved") is None else now
                entry = {"status": row["status"], "since": since, "sent": None, "resolved": None}
            entry.update(name=row["name"], detail=row["detail"], hint=row["hint"], resolved=None)
            opened[row["id"]] = entry
        elif row["status"] == "ok" and entry is not None:
            _resolve(opened, row["id"], now)
    for ident in skipped:
        if ident in opened and ident in WATCHED:
            _resolve(opened, ident, now)
    notices = []
    for ident, entry in sorted(opened.items()):
        if entry.get("resolved") is not None:
            notices.append(Notice("resolved", ident, entry["status"], entry["name"], entry["detail"]))
        elif entry["sent"] is None and now - entry["since"] >= WATCHED[ident].hold / scale:
            notices.append(Notice("problem", ident, entry["status"], entry["name"], entry["detail"], entry["hint"]))
    out = {"version": VERSION, "open": opened, "digest": now if state.get("digest") is None else state["digest"]}
    problems = [e for e in opened.values() if e["sent"] is not None and e.get("resolved") is None]
    if digest and problems and now - out["digest"] >= DAY / scale:
        listed = "; ".join(f"{e['name']} ({e['status']})" for e in problems)
        notices.append(Notice("digest", "digest", "", f"{len(problems)} open problem(s)", listed))
    return out, notices


def _resolve(opened: dict[str, dict[str, Any]], ident: str, now: float) -> None:
    """A problem mailed about waits for its "resolved" mail; one never mailed is simply forgotten."""
    if opened[ident]["sent"] is None:
        del opened[ident]
    elif opened[ident].get("resolved") is None:
        opened[ident]["resolved"] = now


def mark_sent(state: dict[str, Any], notice: Notice, now: float) -> None:
    """Record that the mail of `notice` was handed to Postfix."""
    if notice.kind == "digest":
        state["digest"] = now
    elif notice.kind == "resolved":
        state["open"].pop(notice.id, None)
    else:
        state["open"][notice.id]["sent"] = now


# --- the mail ---------------------------------------------------------------------------------------


def recipient(settings: Settings) -> str:
    return settings.alerts.recipient or settings.main.postmaster_address


def subject(settings: Settings, notice: Notice) -> str:
    if notice.kind == "resolved":
        what = f"resolved: {notice.name}"
    elif notice.kind == "digest":
        what = notice.name
    else:
        what = f"{notice.name}: {notice.detail}"
    line = f"[secumail] {settings.main.fqdn}: {what}"
    return line if len(line) <= 150 else line[:149] + "…"


def message(settings: Settings, notice: Notice, now: float) -> str:
    """The whole plain-text message, headers included (UTF-8, lines as sendmail reads them)."""
    from email.header import Header
    from email.utils import formatdate, make_msgid

    fqdn = settings.main.fqdn
    title = subject(settings, notice)
    if notice.kind == "problem":
        body = (f"{notice.name}: {notice.status}\n{notice.detail}\n\nHow to fix it: {notice.hint}\n\n"
                f"You get one mail when this problem appears and one when it is resolved.\n")  # fmt: skip
    elif notice.kind == "resolved":
        body = f"{notice.name} is ok again.\nThe problem was: {notice.detail}\n"
    else:
        body = "Still open:\n" + "".join(f"- {item}\n" for item in notice.detail.split("; "))
    body += f"\n'mailctl diagnose' on {fqdn} shows every check.\n"
    headers = [
        f"From: Mail Delivery System <MAILER-DAEMON@{fqdn}>",
        f"To: {recipient(settings)}",
        f"Subject: {title if title.isascii() else Header(title, 'utf-8').encode()}",
        f"Date: {formatdate(now)}",
        f"Message-ID: {make_msgid('secumail-alert', domain=fqdn)}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return "\n".join(headers) + "\n\n" + body


def log_line(settings: Settings, notice: Notice) -> str:
    """The one line secumaild logs for the alert."""
    return f"alert {notice.kind} {notice.id} {notice.status}: {subject(settings, notice)} -> {recipient(settings)}"


# --- the state file ---------------------------------------------------------------------------------


def load_state(path: str) -> dict[str, Any]:
    """The saved state; a new one when the file is missing, unreadable or of another version."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return new_state()
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("open"), dict):
        return new_state()
    return data


def save_state(path: str, state: dict[str, Any]) -> None:
    from secumail.system.files import write_json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, state)


# --- one run, as secumaild's worker does it ----------------------------------------------------------


def run(settings: Settings, *, scale: float = 1.0, confdir: str | None = None) -> dict[str, Any]:
    """diagnose, then mail what is due; returns {"sent": [log lines], "failed": [...], "open": [ids]}."""
    from secumail.appliance.diagnose import diagnose
    from secumail.appliance.testmail import submit
    from secumail.errors import SecumailError

    report = diagnose(settings, confdir=confdir)
    path = settings.layout.alerts_state
    now = time.time()
    state, notices = advance(load_state(path), report, now, scale=scale, digest=settings.alerts.digest == "daily")
    sent, failed = [], []
    for notice in notices:
        try:
            submit(settings, "", recipient(settings), message(settings, notice, now), what="the alert")
        except SecumailError as exc:  # the container is down: kept due, mailed at a later run
            failed.append(f"{log_line(settings, notice)} not sent: {exc}")
            continue
        mark_sent(state, notice, now)
        sent.append(log_line(settings, notice))
    save_state(path, state)
    return {"sent": sent, "failed": failed, "open": sorted(state["open"]), "worst": report["worst"]}
