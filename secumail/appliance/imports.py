"""IMAP import operations: one-off runs, sync jobs (`config import` sections with a password file),
and the scheduled run secumaild starts (docs/import.md).

The mail layer (secumail.mail.imapimport) does the copying; here it is handed the running mail
container, whose `spawn` runs Dovecot's IMAP process as the user.
"""

from __future__ import annotations

from typing import Any

from secumail.appliance.operations import Call
from secumail.errors import InputError, SecumailError


def _job(call: Call, *, user: str, source: str, folders: list[str] | None, exclude: list[str] | None,
         ca_file: str | None, insecure: bool, name: str | None, password: str) -> Any:  # fmt: skip
    """The engine's Job from an operation's arguments, each checked as UCI would check it."""
    from secumail.config import validate
    from secumail.mail.imapimport import engine
    from secumail.mail.store import normalize_address

    try:
        url = validate.parse_imap_url(source)
    except ValueError as exc:
        raise InputError(f"--from {source!r} {exc}") from None
    address = normalize_address(user, "mailbox")
    name = name or engine.default_name(address, url.host)
    if not validate.IMPORT_NAME.fullmatch(name):
        raise InputError(f"import name {name!r}: letters, digits and '_' only, at most 32")
    if ca_file:
        validate.absolute_path(ca_file)
    _require_mailbox(call, address)
    return engine.Job(name=name, user=address, source=url, password=password,
                      include=tuple(validate.folder_patterns(tuple(folders or ()))),
                      exclude=tuple(validate.folder_patterns(tuple(exclude or ()))), ca_file=ca_file or "",
                      verify=not insecure)  # fmt: skip


def _require_mailbox(call: Call, address: str) -> None:
    from secumail.mail import store

    accounts = store.load(call.settings.main.data_path, call.settings.main.domain)
    if address not in accounts.users:
        raise InputError(f"no mailbox {address} on this server (mailctl user add {address})")


def _copy(call: Call, job: Any) -> dict[str, Any]:
    from secumail.appliance.spec import running_container
    from secumail.mail.imapimport import engine

    container = running_container(call.settings)
    return engine.run(job, layout=call.settings.layout, spawner=container, report=call.progress)


def run(call: Call, *, user: str, source: str, folders: list[str] | None, exclude: list[str] | None,
        ca_file: str | None, insecure: bool, name: str | None, password: str) -> dict[str, Any]:  # fmt: skip
    """Copy once what is new at `source` into `user`'s mailbox (resumable: the state is kept by name)."""
    job = _job(call, user=user, source=source, folders=folders, exclude=exclude, ca_file=ca_file,
               insecure=insecure, name=name, password=password)  # fmt: skip
    return _copy(call, job)


def add(call: Call, *, user: str, source: str, every: str, folders: list[str] | None, exclude: list[str] | None,
        ca_file: str | None, insecure: bool, name: str | None, password: str) -> dict[str, Any]:  # fmt: skip
    """Save a sync job (`config import` + its password file) after a login at the old server worked."""
    from secumail.config import validate
    from secumail.config.settings import PACKAGE, Import
    from secumail.config.uci_paths import change, claim_section_name
    from secumail.mail.imapimport import secrets
    from secumail.mail.imapimport import source as old_server

    job = _job(call, user=user, source=source, folders=folders, exclude=exclude, ca_file=ca_file,
               insecure=insecure, name=name, password=password)  # fmt: skip
    try:
        interval = Import.options()["interval"].metadata["parse"](every)
    except ValueError as exc:
        raise InputError(f"--every {every!r} {exc}") from None
    claim_section_name(call.confdir, job.name, "import")
    secrets.check_password(password)
    call.progress(f"logging in at {job.source.host}:{job.source.port} as {job.source.login}")
    old_server.close(old_server.connect(job.source, password, ca_file=job.ca_file, verify=job.verify))
    layout = call.settings.layout
    try:
        previous: str | None = secrets.read_password(layout, job.name)
    except SecumailError:
        previous = None
    secrets.write_password(layout, job.name, password)
    prefix = f"{PACKAGE}.{job.name}"
    try:
        change(call.confdir, [
            (prefix, None), (prefix, "import"), (f"{prefix}.user", job.user), (f"{prefix}.source", str(job.source)),
            (f"{prefix}.interval", validate.duration_text(interval)),
            (f"{prefix}.folders", job.include or None), (f"{prefix}.exclude", job.exclude or None),
            (f"{prefix}.ca_file", job.ca_file or None), (f"{prefix}.verify", "1" if job.verify else "0"),
        ])  # fmt: skip
    except BaseException:
        if previous is None:
            secrets.forget(layout, job.name)
        else:
            secrets.write_password(layout, job.name, previous)
        raise
    call.reload()
    return _row(call, _find(call, job.name))


def _find(call: Call, name: str) -> Any:
    found = next((job for job in call.settings.imports if job.name == name), None)
    if found is None:
        raise InputError(f"no import job named {name!r} (see 'mailctl import list')")
    return found


def _last_run(call: Call, name: str) -> Any:
    from secumail.mail.imapimport import state

    try:
        found = state.read(call.settings.layout.import_state(name))
    except SecumailError as exc:
        return None, str(exc)
    return found, None


def _row(call: Call, section: Any) -> dict[str, Any]:
    import os

    from secumail.config import validate

    found, problem = _last_run(call, section.name)
    return {"name": section.name, "user": section.user, "source": section.source,
            "every": validate.duration_text(section.interval), "enabled": section.enabled,
            "folders": list(section.folders), "exclude": list(section.exclude), "ca_file": section.ca_file,
            "verify": section.verify,
            "password_stored": os.path.isfile(call.settings.layout.import_password(section.name)),
            "last_run": found.last_run if found else None, "state_error": problem}  # fmt: skip


def list_(call: Call) -> list[dict[str, Any]]:
    """The sync jobs, then one-off imports whose state is kept (to resume or re-run them)."""
    import os

    rows = [_row(call, section) for section in call.settings.imports]
    jobs = {row["name"] for row in rows}
    directory = call.settings.layout.imports
    names = sorted(entry[:-5] for entry in (os.listdir(directory) if os.path.isdir(directory) else [])
                   if entry.endswith(".json"))  # fmt: skip
    for name in names:
        if name in jobs:
            continue
        found, problem = _last_run(call, name)
        rows.append({"name": name, "user": found.user if found else "", "source": found.source if found else "",
                     "every": "once", "enabled": False, "last_run": found.last_run if found else None,
                     "state_error": problem})  # fmt: skip
    return rows


def show(call: Call, name: str) -> dict[str, Any]:
    """A job (or a one-off import's state) with what was copied of each folder."""
    row = next((r for r in list_(call) if r["name"] == name), None)
    if row is None:
        raise InputError(f"no import named {name!r} (see 'mailctl import list')")
    found, _problem = _last_run(call, name)
    row["folders_copied"] = [{"folder": folder, **entry.to_json()} for folder, entry in
                             (found.folders.items() if found else [])]  # fmt: skip
    return row


def delete(call: Call, name: str) -> dict[str, Any]:
    """Remove a sync job's section, password and state (or a one-off import's state); mail stays."""
    import os

    from secumail.config.settings import PACKAGE
    from secumail.config.uci_paths import change
    from secumail.mail.imapimport import engine, secrets

    sections = [job for job in call.settings.imports if job.name == name]
    layout = call.settings.layout
    if not sections and not os.path.exists(layout.import_state(name)):
        raise InputError(f"no import named {name!r} (see 'mailctl import list')")
    if sections:
        change(call.confdir, [(f"{PACKAGE}.{name}", None)])  # first: secumaild starts no new run
        call.reload()
    with engine.locked(layout.import_lock(name), name):  # a run going on ends first: it would write its state
        secrets.forget(layout, name)
    return {"name": name, "deleted": True}


def sync(call: Call, name: str) -> dict[str, Any]:
    """One scheduled run of sync job `name` (secumaild's `import-sync` job), with its stored password."""
    from secumail.config import validate
    from secumail.mail.imapimport import engine, secrets
    from secumail.mail.store import normalize_address

    section = _find(call, name)
    if not section.enabled:
        raise InputError(f"import {name} is disabled (mailserver.{name}.enabled)")
    user = normalize_address(section.user, "mailbox")
    _require_mailbox(call, user)
    job = engine.Job(name=name, user=user, source=validate.parse_imap_url(section.source),
                     password=secrets.read_password(call.settings.layout, name), include=section.folders,
                     exclude=section.exclude, ca_file=section.ca_file, verify=section.verify)  # fmt: skip
    return _copy(call, job)
