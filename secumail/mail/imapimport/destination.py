"""The mailbox here: Dovecot's IMAP process inside the container, logged in as the user (PREAUTH).

`doveadm exec imap -u USER` runs Dovecot's imap binary after a userdb lookup, already
logged in; we speak IMAP to its stdin and stdout through the caller's spawner (the
container's `spawn`, handed in by the appliance). APPEND sets flags and internal date, so
Dovecot stores both; quota and folder rules are Dovecot's (docs/import.md, "Destination").
"""

from __future__ import annotations

import collections
import contextlib
import imaplib
import re
import tempfile
from collections.abc import Iterable
from typing import IO, Any, Protocol

from secumail.errors import SecumailError
from secumail.mail.imapimport import folders, mutf7, wire
from secumail.mail.imapimport.folders import Folder

# What APPEND may not set (RFC 3501 6.3.11: \Recent is the server's)
_NOT_APPENDABLE = {"\\recent"}
_CODE = re.compile(r"^\[([A-Z-]+)")
_MESSAGE_ID = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


class DestinationError(SecumailError):
    """This server's Dovecot refused what we asked, or its IMAP process went away."""


class Refused(DestinationError):
    """APPEND of one message was refused (too big, malformed); `code` is the response code if any."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Spawner(Protocol):
    def spawn(self, args: list[str], *, stderr: IO[bytes] | None = None) -> Any:  # -> container Process
        ...


def imap_command(user: str) -> list[str]:
    """The command that runs Dovecot's IMAP process logged in as `user` (inside the container)."""
    return ["doveadm", "exec", "imap", "-u", user]


class PipeIMAP(imaplib.IMAP4):
    """imaplib over a process's stdin and stdout (as imaplib.IMAP4_stream, without a shell)."""

    def __init__(self, process: Any) -> None:
        self.process = process
        super().__init__()

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port, self.sock, self.file = host, port, None, None
        self.writefile = self.process.stdin
        self.readfile = self.process.stdout

    def read(self, size: int) -> bytes:
        return self.readfile.read(size)

    def readline(self) -> bytes:
        return self.readfile.readline()

    def send(self, data: bytes) -> None:
        self.writefile.write(data)
        self.writefile.flush()

    def shutdown(self) -> None:
        for stream in (self.writefile, self.readfile):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.process.wait(10)
        except Exception:  # noqa: BLE001 - it is going away either way
            self.process.kill()


def _reason(data: list[Any]) -> str:
    return wire.text(data[-1] if data else "").strip() or "no reason given"


class Mailbox:
    """The user's mailbox here, through one IMAP session."""

    def __init__(self, spawner: Spawner, user: str) -> None:
        self.user = user
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the session, closed by close()
        process = spawner.spawn(imap_command(user), stderr=self._errors)
        try:
            self.imap = PipeIMAP(process)
        except (imaplib.IMAP4.error, OSError, EOFError) as exc:
            process.kill()
            raise DestinationError(f"cannot open {user}'s mailbox here: {self._stderr() or exc}") from None
        if self.imap.state != "AUTH":
            self.close()
            raise DestinationError(f"Dovecot did not log {user} in (state {self.imap.state})")
        self.delimiter = folders.DELIMITER

    def _stderr(self) -> str:
        self._errors.seek(0)
        lines = [line.strip() for line in self._errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def _failed(self, what: str, exc: BaseException) -> DestinationError:
        detail = self._stderr() or str(exc)
        return DestinationError(f"{what}: the IMAP session with this server's Dovecot ended: {detail}")

    def close(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError, EOFError):
            self.imap.shutdown()
        self._errors.close()

    def folders(self) -> list[Folder]:
        try:
            typ, data = self.imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
            typ, data = self.imap._untagged_response(typ, data, "LIST")
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            raise self._failed("LIST", exc) from None
        if typ != "OK":
            raise DestinationError(f"this server's Dovecot refused LIST: {_reason(data)}")
        return folders.from_list(wire.list_entries(data))

    def ensure(self, name: str, existing: set[str]) -> None:
        """Create folder `name` (decoded) and its parents if missing, and subscribe them."""
        parts = name.split(self.delimiter)
        for depth in range(1, len(parts) + 1):
            path = self.delimiter.join(parts[:depth])
            if path in existing or path.upper() == "INBOX":
                continue
            quoted = wire.quote(mutf7.encode(path))
            try:
                typ, data = self.imap.create(quoted)
                if typ != "OK" and "ALREADYEXISTS" not in _reason(data).upper():
                    raise DestinationError(f"{path}: this server's Dovecot would not create it: {_reason(data)}")
                self.imap.subscribe(quoted)
            except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
                raise self._failed(f"CREATE {path}", exc) from None
            existing.add(path)

    def select(self, name: str) -> int:
        """Open folder `name`; how many messages it holds."""
        try:
            typ, data = self.imap.select(wire.quote(mutf7.encode(name)))
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            raise self._failed(f"SELECT {name}", exc) from None
        if typ != "OK":
            raise DestinationError(f"{name}: this server's Dovecot would not open it: {_reason(data)}")
        return int(data[0] or 0)

    def present(self, name: str) -> collections.Counter:
        """What folder `name` holds, as (Message-ID, size, internal date) keys: which messages are there."""
        keys: collections.Counter = collections.Counter()
        if not self.select(name):
            return keys
        try:
            typ, data = self.imap.uid("FETCH", "1:*", f"(RFC822.SIZE INTERNALDATE {_MESSAGE_ID})")
        except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
            raise self._failed(f"FETCH in {name}", exc) from None
        if typ != "OK":
            raise DestinationError(f"{name}: this server's Dovecot would not list it: {_reason(data)}")
        for item in wire.fetch_items(data):
            try:
                when = wire.internal_date(wire.text(item.get("INTERNALDATE")))
            except ValueError:
                continue
            keys[(wire.message_id(wire.header_item(item)), int(item.get("RFC822.SIZE", 0)), when)] += 1
        return keys

    def append(self, name: str, body: bytes, flags: Iterable[str], internal_date: str) -> None:
        """Store one message in folder `name` with its flags and internal date; Refused if Dovecot says no."""
        kept = [flag for flag in flags if flag.lower() not in _NOT_APPENDABLE]
        try:
            typ, data = self.imap.append(wire.quote(mutf7.encode(name)), f"({' '.join(kept)})",
                                         f'"{internal_date}"', body)  # fmt: skip
        except imaplib.IMAP4.abort as exc:
            raise self._failed(f"APPEND to {name}", exc) from None
        except (OSError, EOFError) as exc:
            raise self._failed(f"APPEND to {name}", exc) from None
        except imaplib.IMAP4.error as exc:  # imaplib raises on NO/BAD
            text = str(exc).removeprefix("APPEND command error: ")
            raise Refused(text, _code(text)) from None
        if typ != "OK":
            text = _reason(data)
            raise Refused(text, _code(text))


def _code(text: str) -> str:
    text = text.strip()
    for prefix in ("NO ", "BAD "):
        text = text.removeprefix(prefix)
    text = text.strip("b'\" ")
    match = _CODE.match(text)
    return match.group(1) if match else ""
