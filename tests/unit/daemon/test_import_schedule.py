"""secumaild's timers for sync jobs (`config import`): due after the last run ended, gone with the section."""

from __future__ import annotations

import dataclasses
import datetime as dt

from secumail.config.settings import default_package, settings_from_package
from secumail.daemon.agent import Daemon
from secumail.mail.imapimport import state


def settings(tmp_path, **jobs):
    package = default_package()
    package["main"]["data_path"] = str(tmp_path / "data")
    for index, (name, options) in enumerate(jobs.items()):
        package[name] = {".type": "import", ".name": name, ".anonymous": False, ".index": 100 + index,
                         "user": "alice@example.org", "source": "imaps://alice@old.example", **options}  # fmt: skip
    return settings_from_package(package)


class Jobs:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict, str]] = []

    def start(self, name, args, origin="api"):
        self.started.append((name, args, origin))
        return type("Job", (), {"id": "1"})()


def test_a_new_job_is_due_at_once_then_an_interval_after_its_last_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SECUMAIL_RUNDIR", str(tmp_path / "run"))
    daemon = Daemon(str(tmp_path))
    first = settings(tmp_path, alice_old={"interval": "15m"})
    daemon._schedule_imports(None, first)
    assert daemon.timers.pending()["import:alice_old"] <= 1.0

    finished = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=100)
    kept = state.ImportState("alice@example.org", "imaps://alice@old.example:993")
    kept.last_run = {"finished": finished.isoformat(), "ok": True}
    state.write(first.layout.import_state("alice_old"), kept)
    hourly = settings(tmp_path, alice_old={"interval": "1h"})
    daemon._schedule_imports(first, hourly)  # the interval changed: armed again from the last run
    assert 3400 < daemon.timers.pending()["import:alice_old"] <= 3500

    daemon.settings = hourly
    daemon.jobs = Jobs()  # type: ignore[assignment]
    daemon._fire("import:alice_old")
    assert daemon.jobs.started == [("import-sync", {"name": "alice_old"}, "schedule:import:alice_old")]
    assert daemon._interval("import:alice_old") == 3600

    disabled = settings(tmp_path, alice_old={"interval": "1h", "enabled": "0"})
    daemon._schedule_imports(hourly, disabled)
    assert "import:alice_old" not in daemon.timers.pending()
    daemon._schedule_imports(disabled, dataclasses.replace(disabled, imports=()))
    daemon.settings = dataclasses.replace(disabled, imports=())
    daemon._fire("import:alice_old")  # a timer of a deleted job starts nothing
    assert len(daemon.jobs.started) == 1
