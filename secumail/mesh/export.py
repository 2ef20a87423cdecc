"""Single-file export: a POSIX tar of the repository (its files are already encrypted)."""

from __future__ import annotations

import os
import tarfile
import tempfile
from typing import Any

from secumail.errors import InputError, SecumailError
from secumail.mesh.repo import Repository


def export(repo: Repository, out: str) -> dict[str, Any]:
    directory = os.path.dirname(os.path.abspath(out)) or "."
    if not os.path.isdir(directory):
        raise InputError(f"{directory} does not exist: cannot write {out}")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-export-", dir=directory)
    os.close(fd)
    try:
        with repo.lock(shared=True), tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(os.path.join(repo.path, "config"), "config")
            count = 1
            for kind in ("keys", "index", "snapshots", "heads", "data"):
                for name in repo.list(kind):
                    path = repo.file_path(kind, name)
                    tar.add(path, os.path.relpath(path, repo.path))
                    count += 1
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except OSError as exc:
        os.unlink(tmp)
        raise SecumailError(f"cannot write export {out}: {exc.strerror}") from None
    return {"file": out, "files": count, "bytes": os.path.getsize(out)}


def unpack(path: str, into: str) -> str:
    """Extract an export into `into` (tar members checked), returning the repository path."""
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name.startswith("/") or ".." in member.name.split("/"):
                    raise InputError(f"{path}: unexpected member {member.name!r}; not a secumail export")
            tar.extractall(into)  # noqa: S202 - members checked above
    except tarfile.TarError as exc:
        raise InputError(f"{path} is not a secumail export: {exc}") from None
    return into
