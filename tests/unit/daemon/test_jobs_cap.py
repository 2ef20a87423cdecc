"""Jobs from the API are capped at one queued or running job per name (read-only LuCI users start some)."""

from __future__ import annotations

import selectors

import pytest

from secumail.daemon.jobqueue import JobBusy, JobManager


@pytest.fixture
def manager(tmp_path):
    # no worker slot: every job stays queued, nothing is spawned
    return JobManager(selectors.DefaultSelector(), str(tmp_path), max_workers=0)


def test_the_same_job_again_is_the_queued_one(manager):
    first = manager.start("dns-check", {"domain": "example.org"})
    assert first.state == "queued"
    assert manager.start("dns-check", {"domain": "example.org"}) is first
    assert len(manager.jobs) == 1


def test_other_arguments_while_one_is_queued_get_a_clear_busy_error(manager):
    first = manager.start("dns-check", {"domain": "example.org"})
    for i in range(50):  # a read-only user varying the arguments cannot pile up provider calls
        with pytest.raises(JobBusy) as exc:
            manager.start("dns-check", {"domain": f"d{i}.example.org"})
    assert str(exc.value) == (f"dns-check is busy: job {first.id} is queued with other arguments; start again when "
                              f"it has finished (mailctl jobs show {first.id})")  # fmt: skip
    assert len(manager.jobs) == 1
    assert manager.start("dns-setup", {"dry_run": True}).name == "dns-setup"  # other names are independent
    # the daemon's own schedule is not refused
    assert manager.start("dns-check", {}, origin="schedule:dns-check").origin == "schedule:dns-check"
    assert len(manager.jobs) == 3


def test_after_it_finished_a_new_one_starts(manager):
    first = manager.start("dns-check", {"domain": "example.org"})
    manager._fail_queued(first, "cancelled")
    second = manager.start("dns-check", {"domain": "other.example.org"})
    assert second is not first and second.state == "queued"
