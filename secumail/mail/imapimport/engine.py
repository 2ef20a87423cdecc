"""One import run: plan what is new at the old server, copy it batch by batch, keep the state current.

The order of writes is what makes a run safe to kill and re-run (docs/import.md, "No duplicates,
even after a kill"): before a batch the state names it `in_flight`, after it `last_uid` moves
past it. Messages of a folder without usable state, or of a batch in flight, are looked up in
the target folder first and skipped when they are there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from secumail.config.layout import DataLayout
from secumail.config.validate import ImapUrl
from secumail.errors import InputError, SecumailError
from secumail.mail.imapimport import folders, source, state, wire
from secumail.mail.imapimport.destination import DestinationError, Mailbox, Refused, Spawner
from secumail.mail.imapimport.folders import Folder
from secumail.mail.imapimport.progress import Progress, Report, duration_text, size_text

log = logging.getLogger(__name__)
_LINE_END = re.compile(rb"\r\n|\r|\n")  # what imaplib's APPEND turns into CRLF
_FULL = ("OVERQUOTA", "LIMIT")  # refusals that stop the run: nothing more would fit


@dataclass(frozen=True)
class Job:
    """What one run copies: `source`'s account (`password` never shown) into `user`'s mailbox here."""

    name: str
    user: str
    source: ImapUrl
    password: str = field(repr=False)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ca_file: str = ""
    verify: bool = True


def default_name(user: str, host: str) -> str:
    """`<local part>_<host>` in letters, digits and '_' (a UCI section name), at most 32 characters."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{user.partition('@')[0]}_{host}")[:32]


@dataclass
class _Plan:
    folder: Folder
    target: str
    folder_state: state.FolderState
    messages: list[tuple[int, int]]  # (UID, size) above last_uid
    check_upto: int  # messages with UIDs up to this one may be there already: look first
    copied: int = 0
    present: int = 0
    refused: int = 0
    bytes: int = 0  # of the messages copied


class ImportBusy(SecumailError):
    """Another run of the same import holds its lock."""


LOCK_WAIT = 30.0  # seconds a run waits for another run of the same import (a scheduled sync) to end


@contextlib.contextmanager
def locked(path: str, name: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold import `name`'s lock, waiting up to `wait` s for a run that holds it; ImportBusy after that."""
    import fcntl

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ImportBusy(f"import {name} is running already; try again when it has ended "
                                     f"(mailctl import show {name})") from None  # fmt: skip
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _key(body: bytes, internal_date: str) -> tuple[str, int, int]:
    """How a message is recognised in the target folder: Message-ID, size as stored, internal date."""
    stored = _LINE_END.sub(b"\r\n", body)
    return wire.message_id(wire.header_block(body)), len(stored), wire.internal_date(internal_date)


def load_state(layout: DataLayout, job: Job) -> state.ImportState:
    """The job's state, or a fresh one; InputError when the name belongs to another user or server."""
    found = state.read(layout.import_state(job.name))
    if found is None:
        return state.ImportState(user=job.user, source=str(job.source))
    if (found.user, found.source) != (job.user, str(job.source)):
        raise InputError(f"import {job.name} copies {found.source} into {found.user}: give this one another "
                         "name (--name)")  # fmt: skip
    return found


def run(job: Job, *, layout: DataLayout, spawner: Spawner, report: Report | None = None) -> dict[str, Any]:
    """Copy what is new; the summary, or SecumailError with one line (the state says how far it got)."""
    with locked(layout.import_lock(job.name), job.name):
        current = load_state(layout, job)
        started, clock = _now(), time.monotonic()
        plans: list[_Plan] = []
        try:
            _Run(job, current, layout.import_state(job.name), report).copy(spawner, plans)
        except BaseException as exc:
            message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            current.last_run = {"started": started, "finished": _now(), "ok": False, "error": message,
                                **_counts(plans)}  # fmt: skip
            path = layout.import_state(job.name)
            if current.folders or os.path.exists(path):  # a first run that copied nothing leaves nothing
                with contextlib.suppress(OSError):
                    state.write(path, current)
            raise
        seconds = time.monotonic() - clock
        totals = _counts(plans)
        current.last_run = {"started": started, "finished": _now(), "ok": True, "error": None, **totals}
        state.write(layout.import_state(job.name), current)
    return {"name": job.name, "user": job.user, "source": str(job.source), **totals, "seconds": round(seconds, 1),
            "rate": round(totals["copied"] / seconds, 1) if seconds > 0 else None,
            "folders": [{"folder": p.folder.name, "target": p.target, "copied": p.copied, "present": p.present,
                         "refused": p.refused} for p in plans]}  # fmt: skip


def _counts(plans: list[_Plan]) -> dict[str, int]:
    return {"copied": sum(p.copied for p in plans), "present": sum(p.present for p in plans),
            "refused": sum(p.refused for p in plans), "bytes": sum(p.bytes for p in plans)}  # fmt: skip


def _say(report: Report | None, line: str) -> None:
    if report is not None:
        report(line, None)


@dataclass
class _Run:
    """One run's job, its state (kept current in `path`) and where progress goes."""

    job: Job
    current: state.ImportState
    path: str
    report: Report | None

    def copy(self, spawner: Spawner, plans: list[_Plan]) -> None:
        """Fill `plans` (the caller's list: counts survive a failure) and copy what they name."""
        job = self.job
        imap = source.connect(job.source, job.password, ca_file=job.ca_file, verify=job.verify)
        try:
            mailbox = Mailbox(spawner, job.user)
            try:
                plans.extend(self.plan(imap, mailbox))
                self.transfer(imap, mailbox, plans)
            finally:
                mailbox.close()
        finally:
            source.close(imap)

    def plan(self, imap: Any, mailbox: Mailbox) -> list[_Plan]:
        job, current = self.job, self.current
        listed, prefix = source.list_folders(imap)
        chosen = folders.choose(listed, job.include, job.exclude)
        if not chosen:
            raise InputError(f"no folder of {job.source.host} matches --folders/--exclude "
                             f"(it has: {', '.join(f.name for f in listed if f.selectable)[:300]})")  # fmt: skip
        ours = folders.our_uses(mailbox.folders())
        _say(self.report, f"{len(chosen)} folders at {job.source.host}: looking for new messages")
        plans = []
        for folder in chosen:
            try:
                validity, count = source.examine(imap, folder)
            except source.SourceError as exc:
                log.warning("%s (skipped)", exc)
                continue
            known = current.folders.get(folder.name)
            check_upto = 0
            if known is not None and known.uidvalidity != validity:
                log.warning("%s: UIDVALIDITY changed at the old server: copying it again, skipping what is here",
                            folder.name)  # fmt: skip
                known = state.FolderState(validity, target=known.target)
                check_upto = 2**63
            elif known is None:
                known = state.FolderState(validity)
                check_upto = 2**63  # no state: the folder may hold an earlier import's messages
            elif known.in_flight is not None:
                check_upto = known.in_flight
            known.target = known.target or folders.target(folder, prefix=prefix, ours=ours)
            messages = source.sizes_after(imap, known.last_uid) if count else []
            plans.append(_Plan(folder, known.target, known, messages, check_upto))
        return plans

    def transfer(self, imap: Any, mailbox: Mailbox, plans: list[_Plan]) -> None:
        meter = Progress(self.report, messages=sum(len(p.messages) for p in plans),
                         size=sum(size for p in plans for _uid, size in p.messages))  # fmt: skip
        _say(self.report, f"{meter.total_messages} new messages ({size_text(meter.total_bytes)}) in "
                          f"{len(plans)} folders")  # fmt: skip
        existing = {folder.name for folder in mailbox.folders()}
        for plan in plans:
            self.current.folders[plan.folder.name] = plan.folder_state
            mailbox.ensure(plan.target, existing)  # an empty folder too: it is part of the account
            if not plan.messages:
                continue
            source.examine(imap, plan.folder)
            there = mailbox.present(plan.target) if plan.messages[0][0] <= plan.check_upto else None
            meter.show(plan.folder.name, force=True)
            for batch in source.batches(plan.messages):
                plan.folder_state.in_flight = max(batch[-1][0], plan.folder_state.in_flight or 0)
                state.write(self.path, self.current)
                fetched = source.fetch(imap, [uid for uid, _size in batch])
                for uid, size in batch:
                    message = fetched.get(uid)
                    if message is not None:
                        _one(plan, mailbox, message, there if uid <= plan.check_upto else None)
                    meter.advance(plan.folder.name, size)
                plan.folder_state.last_uid = batch[-1][0]
                if plan.folder_state.in_flight <= plan.folder_state.last_uid:
                    plan.folder_state.in_flight = None
                state.write(self.path, self.current)
        state.write(self.path, self.current)
        if meter.total_messages:
            meter.show("done", force=True)


def _one(plan: _Plan, mailbox: Mailbox, message: source.Message, there: Any) -> None:
    if there is not None:
        try:
            key = _key(message.body, message.internal_date)
        except ValueError:  # a date we cannot read is never matched: the message is appended
            key = None
        if key is not None and there[key] > 0:
            there[key] -= 1
            plan.present += 1
            return
    try:
        mailbox.append(plan.target, message.body, message.flags, message.internal_date)
    except Refused as exc:
        if exc.code in _FULL or "quota" in str(exc).lower():
            raise DestinationError(f"{plan.target}: this server refused a message: {exc}") from None
        log.warning("%s: UID %d refused by this server: %s", plan.folder.name, message.uid, exc)
        plan.folder_state.refused.append(message.uid)
        plan.refused += 1
        return
    plan.copied += 1
    plan.bytes += len(message.body)


def summary_text(result: dict[str, Any]) -> str:
    """One line for the shell: what was copied, how fast, how much was there already."""
    rate = f" ({result['rate']} messages/s)" if result.get("rate") else ""
    line = (f"imported {result['copied']} messages ({size_text(result['bytes'])}) into {result['user']} in "
            f"{duration_text(result['seconds'])}{rate}; {result['present']} were there already")  # fmt: skip
    if result.get("refused"):
        line += f"; {result['refused']} refused by this server (mailctl import show {result['name']})"
    return line
