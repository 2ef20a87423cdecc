"""secumaild's alerts timer: the job runs every alerts.interval (scaled), only with main and alerts enabled."""

from __future__ import annotations

from secumail.config.settings import default_package, settings_from_package
from secumail.daemon.agent import FIRST_ALERTS, Daemon
from tests.unit.daemon.test_import_schedule import Jobs


def settings(tmp_path, main_enabled="1", **alerts):
    package = default_package()
    package["main"].update(data_path=str(tmp_path / "data"), enabled=main_enabled)
    package["alerts"].update(alerts)
    return settings_from_package(package)


def test_the_alerts_job_runs_every_interval_with_the_time_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("SECUMAIL_RUNDIR", str(tmp_path / "run"))
    daemon = Daemon(str(tmp_path), time_scale=60.0)
    daemon.settings = settings(tmp_path, interval="1h")
    daemon._schedule(None, daemon.settings)
    assert abs(daemon.timers.pending()["alerts"] - FIRST_ALERTS / 60) < 1
    daemon.jobs = Jobs()  # type: ignore[assignment]
    daemon._fire("alerts")
    assert daemon.jobs.started == [("alerts", {"scale": 60.0}, "schedule:alerts")]
    assert daemon._interval("alerts") == 3600


def test_nothing_runs_while_alerts_or_the_server_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SECUMAIL_RUNDIR", str(tmp_path / "run"))
    daemon = Daemon(str(tmp_path))
    daemon.jobs = Jobs()  # type: ignore[assignment]
    for off in (settings(tmp_path, enabled="0"), settings(tmp_path, main_enabled="0")):
        daemon.settings = off
        daemon._fire("alerts")
        assert daemon.jobs.started == []
        assert 890 < daemon.timers.pending()["alerts"] <= 900  # looked at again an interval later
