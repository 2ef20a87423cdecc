"""App passwords: extra random passwords per mailbox, each for some services, revocable one by one.

A mailbox keeps its own password; an app password is one more way in for a
mail client, limited to its scopes (`imap` = IMAP and POP3, `smtp` =
submission, `dav` = calendars and contacts). It never opens ManageSieve and
is never accepted by mailctl, LuCI or anything that changes the account.

How Dovecot (2.3) checks them without a database: a passwd-file holds one
entry per user name, so several passwords of one user need distinct keys.
The token is `SELECTOR-SECRET`: its first six characters select the entry,
and the second passdb looks up `%Lu/%6w` (user, then the first six
characters of the password typed) in `app-passwords.%s`, one file per
Dovecot service (%s: imap, pop3, smtp from Postfix's SASL, dav). A service
without a file, or a user without an entry in it, fails like a wrong
password. The whole token is hashed like an account password
(secumail.mail.passwords); the selector alone opens nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from secumail.errors import InputError

APP_PASSWORDS = "app-passwords"  # every app password with its name, scopes and date (Dovecot never reads it)
SCOPES = {"imap": ("imap", "pop3"), "smtp": ("smtp",), "dav": ("dav",)}  # scope -> Dovecot service names (%s)
SERVICES = tuple(service for services in SCOPES.values() for service in services)
SERVICE_FILES = tuple(f"{APP_PASSWORDS}.{service}" for service in SERVICES)
DEFAULT_SCOPES = ("imap", "smtp")
MAX_PER_USER = 32
SELECTOR_CHARS = 6  # dovecot.conf looks up %6w: keep the two in step
# No 0/o, 1/l/i: a token is read off one screen and typed on another.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_SELECTOR = re.compile(rf"^[{ALPHABET}]{{{SELECTOR_CHARS}}}$")


@dataclass
class AppPassword:
    address: str
    name: str
    selector: str
    scopes: tuple[str, ...]
    created: str  # UTC, ISO 8601 to the second
    password_hash: str

    def line(self) -> str:
        return (
            f"{self.address} {self.name} {self.selector} {','.join(self.scopes)} {self.created} {self.password_hash}\n"
        )

    def row(self) -> dict[str, object]:
        return {"address": self.address, "name": self.name, "scopes": list(self.scopes), "created": self.created}


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"app password name {name!r}: 1 to 32 letters, digits and . _ - (like 'phone' or 'thunderbird-work')"
        )
    return name


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """'imap,smtp' → ('imap', 'smtp') in a fixed order; None → the default scopes."""
    if text is None:
        return DEFAULT_SCOPES
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown or not wanted:
        raise InputError(f"scope {text!r}: give one or more of {', '.join(SCOPES)}, separated by commas")
    return tuple(scope for scope in SCOPES if scope in wanted)


def new_token(taken: set[str]) -> tuple[str, str]:
    """(selector, token): 'abcdef-ghjk-mnpq-rstu-vwxy', 31**16 (79 bits) of secret after a selector
    unused by this user."""
    while True:
        selector = "".join(secrets.choice(ALPHABET) for _ in range(SELECTOR_CHARS))
        if selector not in taken:
            break
    groups = ["".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(4)]
    return selector, "-".join([selector, *groups])


def parse_line(line: str) -> AppPassword:
    parts = line.split()
    if len(parts) != 6:
        raise InputError("not an 'address name selector scopes created hash' line")
    address, name, selector, scopes, created, password_hash = parts
    check_name(name)
    if not _SELECTOR.match(selector):
        raise InputError(f"selector {selector!r} is not {SELECTOR_CHARS} token characters")
    return AppPassword(address, name, selector, parse_scopes(scopes), created, password_hash)


def service_lines(apps: list[AppPassword]) -> dict[str, list[str]]:
    """The passwd-file lines Dovecot reads, per file app-passwords.<service> (every file, empty ones too)."""
    out: dict[str, list[str]] = {name: [] for name in SERVICE_FILES}
    for app in apps:
        for scope in app.scopes:
            for service in SCOPES[scope]:
                out[f"{APP_PASSWORDS}.{service}"].append(f"{app.address}/{app.selector}:{app.password_hash}\n")
    return out
