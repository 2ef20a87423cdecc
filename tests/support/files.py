"""Files the tests write as a user would."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, text: str) -> str:
    """A credentials file readable by its owner only (0600); its path as text."""
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def tree_state(root, skip=("backup", "mesh")):
    """path -> (mode, mtime_ns, bytes) for every file and dir under root."""
    state = {}
    for dirpath, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir.split(os.sep)[0] in skip:
            dirs[:] = []
            continue
        for name in files + dirs:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel.split(os.sep)[0] in skip:
                continue
            body = Path(path).read_bytes() if os.path.isfile(path) else None
            state[rel] = (st.st_mode, st.st_mtime_ns, body)
    return state


def snapshot(directory):
    """Every file under `directory` with its bytes and mode: to prove a refused change changed nothing."""
    out = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name == ".lock":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out[path] = (handle.read(), os.stat(path).st_mode)
    return out
