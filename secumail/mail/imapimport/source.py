"""The old server: log in over TLS with imaplib, list folders, read messages without marking them read.

Every failure a user can meet (no connection, a certificate that does not verify, a refused
login, a folder that went away) is a SourceError with one line naming the server.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from secumail.config.validate import ImapUrl
from secumail.errors import SecumailError
from secumail.mail.imapimport import folders, wire
from secumail.mail.imapimport.folders import Folder

TIMEOUT = 60.0  # seconds a read may take: a large message over a slow line still arrives in bursts
BATCH_MESSAGES = 100  # one FETCH round trip for up to this many messages ...
BATCH_BYTES = 8 * 1024 * 1024  # ... or this many bytes (a bigger message comes alone)


class SourceError(SecumailError):
    """The old server could not be reached, did not accept us, or answered what we cannot use."""


@dataclass(frozen=True)
class Message:
    uid: int
    flags: tuple[str, ...]
    internal_date: str  # as the server wrote it: "17-Jul-1996 02:44:25 -0700"
    body: bytes


def tls_context(*, ca_file: str = "", verify: bool = True) -> ssl.SSLContext:
    """Certificates and names checked against the system's CAs, or `ca_file` only; nothing checked
    only when asked for (`verify` False)."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot read the CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None


def _reason(exc: BaseException) -> str:
    """The server's words from an imaplib error (bytes in a str), or the OS error."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc.args[0]) if exc.args else str(exc)
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def connect(url: ImapUrl, password: str, *, ca_file: str = "", verify: bool = True,
            timeout: float = TIMEOUT) -> imaplib.IMAP4:  # fmt: skip
    """A logged-in connection to the old server (imaps: TLS at once; imap: STARTTLS required)."""
    where = f"{url.host}:{url.port}"
    context = tls_context(ca_file=ca_file, verify=verify)
    try:
        if url.scheme == "imaps":
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(url.host, url.port, ssl_context=context, timeout=timeout)
        else:
            imap = imaplib.IMAP4(url.host, url.port, timeout=timeout)
            if "STARTTLS" not in imap.capabilities:
                imap.shutdown()
                raise SourceError(f"{where} offers no STARTTLS: use imaps:// (the password never goes in clear)")
            imap.starttls(ssl_context=context)
    except ssl.SSLCertVerificationError as exc:
        hint = "pin its certificate with --ca-file FILE, or --insecure" if verify else ""
        raise SourceError(f"TLS to {where}: certificate verify failed: {_reason(exc)}"
                          + (f" ({hint})" if hint else "")) from None  # fmt: skip
    except ssl.SSLError as exc:
        raise SourceError(f"TLS to {where} failed: {exc.reason or exc}") from None
    except (socket.timeout, TimeoutError):
        raise SourceError(f"cannot connect to {where}: no answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise SourceError(f"cannot connect to {where}: {_reason(exc)}") from None
    except imaplib.IMAP4.error as exc:
        raise SourceError(f"{where} is not an IMAP server we can use: {_reason(exc)}") from None
    try:
        # LOGIN's arguments are ASCII strings: a non-ASCII password goes as UTF-8 in AUTHENTICATE PLAIN
        plain = "AUTH=PLAIN" in imap.capabilities
        if plain and ("LOGINDISABLED" in imap.capabilities or not (url.login + password).isascii()):
            imap.authenticate("PLAIN", lambda _challenge: f"\0{url.login}\0{password}".encode())
        elif not (url.login + password).isascii():
            close(imap)
            raise SourceError(f"{url.host} takes only ASCII passwords (no AUTH=PLAIN)")
        else:
            imap.login(url.login, password)
        # what the server offers once logged in (NAMESPACE, SPECIAL-USE) is more than before
        typ, data = imap.capability()
        if typ == "OK" and data and data[-1]:
            imap.capabilities = tuple(wire.text(data[-1]).upper().split())
    except imaplib.IMAP4.error as exc:
        close(imap)
        raise SourceError(f"{url.host} refused the login of {url.login}: {_reason(exc)}") from None
    except OSError as exc:
        raise SourceError(f"{where} closed the connection at login: {_reason(exc)}") from None
    return imap


def close(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (imaplib.IMAP4.error, OSError):
        with contextlib.suppress(OSError):
            imap.shutdown()


def _check(answer: tuple[str, list], what: str) -> list:
    status, data = answer
    if status != "OK":
        raise SourceError(f"the old server refused {what}: {wire.text(data[0] if data else '')}")
    return data


def list_folders(imap: imaplib.IMAP4) -> tuple[list[Folder], str]:
    """Every folder of the personal namespace (with special-use attributes when offered), and its prefix."""
    prefix = ""
    if "NAMESPACE" in imap.capabilities:
        prefix = folders.personal_prefix(_check(imap.namespace(), "NAMESPACE"))
    if "SPECIAL-USE" in imap.capabilities and "LIST-EXTENDED" in imap.capabilities:
        typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
        data = _check(imap._untagged_response(typ, data, "LIST"), "LIST")
    else:
        data = _check(imap.list('""', '"*"'), "LIST")
    return folders.from_list(wire.list_entries(data)), prefix


def examine(imap: imaplib.IMAP4, folder: Folder) -> tuple[int, int]:
    """Open `folder` read-only; its UIDVALIDITY and how many messages it holds."""
    status, data = imap.select(wire.quote(folder.wire), readonly=True)
    if status != "OK":
        raise SourceError(f"{folder.name}: the old server would not open it: {wire.text(data[0] if data else '')}")
    _, validity = imap.response("UIDVALIDITY")
    try:
        return int(validity[0]), int(data[0] or 0)
    except (TypeError, ValueError, IndexError):
        raise SourceError(f"{folder.name}: the old server gave no UIDVALIDITY") from None


def sizes_after(imap: imaplib.IMAP4, last_uid: int) -> list[tuple[int, int]]:
    """(UID, size) of each message of the open folder whose UID is above `last_uid`, in UID order."""
    status, data = imap.uid("FETCH", f"{last_uid + 1}:*", "(UID RFC822.SIZE)")
    if status != "OK":
        raise SourceError(f"the old server refused to list messages: {wire.text(data[0] if data else '')}")
    found = {item["UID"]: item.get("RFC822.SIZE", 0) for item in wire.fetch_items(data) if "UID" in item}
    # `N:*` also names the last message when every UID is below N: keep only the new ones
    return sorted((uid, int(size)) for uid, size in found.items() if uid > last_uid)


def batches(sized: Sequence[tuple[int, int]], *, messages: int = BATCH_MESSAGES,
            size: int = BATCH_BYTES) -> Iterator[list[tuple[int, int]]]:  # fmt: skip
    """Consecutive runs of (UID, size) of at most `messages` messages and `size` bytes (at least one)."""
    batch: list[tuple[int, int]] = []
    total = 0
    for entry in sized:
        if batch and (len(batch) >= messages or total + entry[1] > size):
            yield batch
            batch, total = [], 0
        batch.append(entry)
        total += entry[1]
    if batch:
        yield batch


def fetch(imap: imaplib.IMAP4, uids: Sequence[int]) -> dict[int, Message]:
    """The messages with these UIDs of the open folder (those still there), without setting \\Seen."""
    status, data = imap.uid("FETCH", ",".join(str(uid) for uid in uids), "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    if status != "OK":
        raise SourceError(f"the old server refused to send messages: {wire.text(data[0] if data else '')}")
    found: dict[int, Message] = {}
    for item in wire.fetch_items(data):
        body = item.get("BODY[]")
        if "UID" not in item or not isinstance(body, bytes):
            continue  # an unsolicited FLAGS update, or a message expunged meanwhile
        flags = tuple(str(flag) for flag in item.get("FLAGS") or () if flag)
        found[item["UID"]] = Message(item["UID"], flags, wire.text(item.get("INTERNALDATE")), body)
    return found
