"""Mailbox password hashes that Dovecot 2.3 verifies: {BLF-CRYPT} bcrypt with the $2y$ prefix.

Dovecot checks BLF-CRYPT through crypt(3) (libxcrypt on Debian, musl on
OpenWrt); both accept $2y$. $2b$ (what the bcrypt module writes) and $2y$
are the same algorithm, the prefixes only name different historical bug
fixes, so rewriting the prefix is safe. Cost 10 keeps a login under ~0.3 s
on a router CPU; Dovecot's auth cache pays it once per cache lifetime.
"""

from __future__ import annotations

from secumail.errors import InputError, NotAvailable

SCHEME = "{BLF-CRYPT}"
DEFAULT_ROUNDS = 10
MAX_BYTES = 72  # bcrypt ignores (newer versions refuse) anything after 72 bytes
MIN_CHARS = 10  # a mailbox password is guessed online over IMAP/SMTP: no short ones


def _bcrypt():
    try:
        import bcrypt
    except ImportError as exc:
        raise NotAvailable("password hashing (install python3-bcrypt / pip install bcrypt)") from exc
    return bcrypt


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """'{BLF-CRYPT}$2y$10$...' for `password`; refuses what bcrypt would silently cut."""
    raw = password.encode("utf-8")
    if not raw:
        raise InputError("empty password; nothing was changed")
    if len(password) < MIN_CHARS:
        raise InputError(f"the password is shorter than {MIN_CHARS} characters; nothing was changed")
    if len(raw) > MAX_BYTES:
        raise InputError(f"the password is longer than {MAX_BYTES} bytes, which bcrypt cannot use in full")
    if any(ch in password for ch in "\r\n\0"):
        raise InputError("the password holds a line break or NUL byte")
    hashed = _bcrypt().hashpw(raw, _bcrypt().gensalt(rounds=rounds)).decode("ascii")
    return SCHEME + "$2y$" + hashed[4:]


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a hash written by hash_password (for tests and `user passwd` checks)."""
    if not stored.startswith(SCHEME):
        return False
    crypt = stored[len(SCHEME):]
    if crypt.startswith("$2y$"):
        crypt = "$2b$" + crypt[4:]
    try:
        return _bcrypt().checkpw(password.encode("utf-8"), crypt.encode("ascii"))
    except ValueError:
        return False
