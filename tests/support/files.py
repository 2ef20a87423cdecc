"""Files the tests write as a user would."""

from __future__ import annotations

from pathlib import Path


def write_secret(path: Path, text: str) -> str:
    """A credentials file readable by its owner only (0600); its path as text."""
    path.write_text(text)
    path.chmod(0o600)
    return str(path)
