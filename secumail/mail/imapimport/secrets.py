"""A sync job's password for the old server: data_path/import/<name>.password, 0600 in a 0700 directory.

Never in UCI, argv or a log: `mailctl import --every` reads it from a prompt or stdin and writes
it here; secumaild's scheduled runs read it back. A one-off run (`--once`) stores none.
"""

from __future__ import annotations

import contextlib
import os

from secumail.config.layout import DataLayout
from secumail.errors import InputError


def check_password(password: str) -> str:
    """One line, no NUL, 1-1024 characters: what a prompt or one line of stdin can carry."""
    if not password or len(password) > 1024 or any(ch in password for ch in "\0\r\n"):
        raise InputError("the password must be 1-1024 characters on one line")
    return password


def write_password(layout: DataLayout, name: str, password: str) -> None:
    from secumail.system.files import atomic_write

    os.makedirs(layout.imports, mode=0o700, exist_ok=True)
    os.chmod(layout.imports, 0o700)
    atomic_write(layout.import_password(name), check_password(password) + "\n", mode=0o600)


def read_password(layout: DataLayout, name: str) -> str:
    from secumail.system.files import read_secret

    return read_secret(layout.import_password(name), f"import {name}", "add the job again (mailctl import --every)")


def forget(layout: DataLayout, name: str) -> list[str]:
    """Remove the job's password, state and lock; the paths that were there."""
    removed = []
    for path in (layout.import_password(name), layout.import_state(name), layout.import_lock(name)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed
