"""The state file of an import: per folder of the old server, its UIDVALIDITY and the last UID copied.

Format and rules in docs/import.md ("The state file"). Written atomically (0600) after each
batch, so a run killed at any moment leaves the state before or after a batch; `in_flight`
names the batch that may be half appended.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from secumail.errors import SecumailError

VERSION = 1


@dataclass
class FolderState:
    uidvalidity: int
    last_uid: int = 0
    target: str = ""
    in_flight: int | None = None
    refused: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uidvalidity": self.uidvalidity, "last_uid": self.last_uid, "target": self.target}
        if self.in_flight is not None:
            data["in_flight"] = self.in_flight
        if self.refused:
            data["refused"] = sorted(self.refused)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FolderState:
        in_flight = data.get("in_flight")
        return cls(uidvalidity=int(data["uidvalidity"]), last_uid=int(data.get("last_uid", 0)),
                   target=str(data.get("target", "")), in_flight=int(in_flight) if in_flight is not None else None,
                   refused=[int(uid) for uid in data.get("refused", [])])  # fmt: skip


@dataclass
class ImportState:
    user: str
    source: str
    folders: dict[str, FolderState] = field(default_factory=dict)
    last_run: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "user": self.user, "source": self.source,
                "folders": {name: folder.to_json() for name, folder in self.folders.items()},
                "last_run": self.last_run}  # fmt: skip


def read(path: str) -> ImportState | None:
    """The state in `path`, None when there is none; SecumailError naming the file when it is unusable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SecumailError(f"import state {path} is unreadable ({exc}); move it away to start over") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise SecumailError(f"import state {path} has version {version!r}, this agent reads {VERSION}")
    try:
        folders = {str(name): FolderState.from_json(entry) for name, entry in data.get("folders", {}).items()}
        return ImportState(user=str(data["user"]), source=str(data["source"]), folders=folders,
                           last_run=data.get("last_run"))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise SecumailError(f"import state {path} is malformed ({exc}); move it away to start over") from None


def write(path: str, state: ImportState) -> None:
    from secumail.system.files import write_json

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_json(path, state.to_json())


def last_finished(path: str) -> float | None:
    """When the last run ended (seconds since the epoch), for secumaild's schedule; None if never or unknown."""
    import datetime as dt

    try:
        with open(path, encoding="utf-8") as handle:
            finished = (json.load(handle).get("last_run") or {}).get("finished")
        return dt.datetime.fromisoformat(finished).timestamp() if finished else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None
