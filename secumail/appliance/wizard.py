"""The first-run setup as a state machine: which steps are done, which failed and why, what comes next.

Pure functions over a small JSON-ready dict, plus load/save of that dict (DataLayout.setup_state),
so `mailctl setup` and the LuCI wizard resume where the last run stopped. A failed step keeps
its one-line reason and leaves the steps before it done; re-running a done step with other
answers (another domain) sends the steps after it back to pending, since they used the old ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from secumail.errors import InputError

STEPS = ("identity", "dns", "plan", "records", "install", "certificate", "mailbox", "finish")
TITLES = {
    "identity": "domain and host name",
    "dns": "DNS provider and credentials test",
    "plan": "DNS plan (what would change)",
    "records": "publish the DNS records",
    "install": "install the mail container",
    "certificate": "TLS certificate",
    "mailbox": "first mailbox",
    "finish": "client settings",
}
VERSION = 1


def empty() -> dict[str, Any]:
    return {"version": VERSION, "steps": {}}


def status_of(state: dict[str, Any], step: str) -> str:
    return state["steps"].get(step, {}).get("status", "pending")


def next_step(state: dict[str, Any]) -> str | None:
    """The first step not done yet; None when setup is complete."""
    return next((step for step in STEPS if status_of(state, step) != "done"), None)


def blocked(state: dict[str, Any], step: str) -> str | None:
    """Why `step` cannot run now (an earlier step is not done), or None."""
    if step not in STEPS:
        raise InputError(f"unknown setup step {step!r} (steps: {', '.join(STEPS)})")
    for earlier in STEPS[: STEPS.index(step)]:
        if status_of(state, earlier) != "done":
            return f"setup step '{step}' needs step '{earlier}' ({TITLES[earlier]}) done first"
    return None


def record(state: dict[str, Any], step: str, *, error: str | None = None, answers: dict[str, Any] | None = None,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """A new state with `step` done (error None) or failed with `error`; `answers` are its non-secret inputs."""
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat()
    steps = {name: dict(entry) for name, entry in state["steps"].items()}
    previous = steps.get(step, {})
    entry: dict[str, Any] = {"status": "failed" if error else "done", "at": when}
    if error:
        entry["reason"] = error.splitlines()[0] if error else ""
    answers = dict(answers or {})
    if answers or "answers" in previous:
        entry["answers"] = answers or previous.get("answers", {})
    if not error and previous.get("status") == "done" and previous.get("answers", {}) != entry.get("answers", {}):
        for later in STEPS[STEPS.index(step) + 1:]:
            steps.pop(later, None)  # they were done with the old answers
    steps[step] = entry
    return {"version": VERSION, "steps": steps}


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """What `mailctl setup --status` and the wizard show."""
    rows = []
    for step in STEPS:
        entry = state["steps"].get(step, {})
        rows.append({"step": step, "title": TITLES[step], "status": entry.get("status", "pending"),
                     "reason": entry.get("reason", ""), "at": entry.get("at", "")})
    return {"complete": next_step(state) is None, "next": next_step(state), "steps": rows,
            "answers": answers(state)}


def answers(state: dict[str, Any]) -> dict[str, Any]:
    """Every step's recorded (non-secret) answers, merged: the wizard fills its forms from them."""
    merged: dict[str, Any] = {}
    for step in STEPS:
        merged.update(state["steps"].get(step, {}).get("answers", {}))
    return merged


def load(path: str) -> dict[str, Any]:
    """The saved state, or an empty one; a damaged file is an error that names it."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise InputError(f"setup state {path} is unreadable ({exc}); remove it to start setup again") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        raise InputError(f"setup state {path} is not a setup state; remove it to start setup again")
    return data


def save(path: str, state: dict[str, Any]) -> None:
    from secumail.system.files import write_json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, state)
