"""The setup state machine: resumes at the first step not done, keeps earlier steps when one fails."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from secumail.appliance import wizard
from secumail.errors import InputError

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)


def _done(*steps: str) -> dict:
    state = wizard.empty()
    for step in steps:
        state = wizard.record(state, step, now=NOW)
    return state


def test_a_new_setup_starts_at_identity_and_later_steps_wait():
    state = wizard.empty()
    assert wizard.next_step(state) == "identity"
    assert wizard.blocked(state, "identity") is None
    assert wizard.blocked(state, "plan") == "setup step 'plan' needs step 'identity' (domain and host name) done first"


def test_a_failed_step_keeps_its_reason_and_the_steps_before_it():
    state = _done("identity", "dns", "plan", "records")
    state = wizard.record(state, "install", error="cannot build the image: no space left\nmore detail", now=NOW)
    summary = wizard.summary(state)
    assert summary["next"] == "install" and not summary["complete"]
    rows = {row["step"]: row for row in summary["steps"]}
    assert [rows[s]["status"] for s in ("identity", "dns", "plan", "records")] == ["done"] * 4
    assert rows["install"]["status"] == "failed"
    assert rows["install"]["reason"] == "cannot build the image: no space left"
    assert rows["certificate"]["status"] == "pending"
    # fixed and re-run: done, and setup goes on from there
    assert wizard.next_step(wizard.record(state, "install", now=NOW)) == "certificate"


def test_new_answers_for_a_done_step_send_the_later_steps_back_to_pending():
    state = wizard.record(wizard.empty(), "identity", answers={"domain": "a.test"}, now=NOW)
    state = wizard.record(state, "dns", answers={"provider": "manual"}, now=NOW)
    same = wizard.record(state, "identity", answers={"domain": "a.test"}, now=NOW)
    assert wizard.status_of(same, "dns") == "done"
    other = wizard.record(state, "identity", answers={"domain": "b.test"}, now=NOW)
    assert wizard.status_of(other, "dns") == "pending"
    assert wizard.answers(other) == {"domain": "b.test"}


def test_every_step_done_is_complete():
    state = _done(*wizard.STEPS)
    assert wizard.next_step(state) is None and wizard.summary(state)["complete"]


def test_state_file_round_trip_is_private(tmp_path):
    path = str(tmp_path / "setup" / "state.json")
    assert wizard.load(path) == wizard.empty()
    state = _done("identity")
    wizard.save(path, state)
    assert wizard.load(path) == state
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_damaged_state_file_is_one_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"state.json is unreadable .*remove it to start setup again"):
        wizard.load(str(path))


def test_unknown_step_is_refused():
    with pytest.raises(InputError, match="unknown setup step 'coffee'"):
        wizard.blocked(wizard.empty(), "coffee")
