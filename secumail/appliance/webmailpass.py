"""Password change from the webmail: one HTTP request of Roundcube's password plugin (httpapi driver).

secumaild listens on the bridge's host address at webmail.password_port and hands each connection
from the webmail container's address to `python -m secumail.appliance.webmailpass --fd N`, which
serves that one request and exits. The request carries the login, the current and the new password
(secumail.mail.webmail.PASSWORD_FIELDS). The current password must be the mailbox password as the
account file has it, never an app password; the new one goes through the policy and commit of
`mailctl user passwd`. The request must also carry the key the password plugin was configured with
(Authorization: Bearer, data_path/webmail-password.key): the address check alone would trust anyone
on the bridge who takes the webmail's address, the mail container included. After MAX_FAILURES wrong
current passwords for one mailbox within WINDOW seconds, further attempts are refused until the oldest
failure is that old. The webmail container never writes the account store: a compromised Roundcube
can change a password only with the current one.

Answers: 200 "OK" (what the driver's password_httpapi_expect wants), 4xx with one line otherwise,
which Roundcube shows as "could not save the new password". Passwords are never logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import socket
import time
import urllib.parse
from typing import Any

from secumail.config.settings import Settings
from secumail.errors import InputError, SecumailError

log = logging.getLogger("secumail.webmailpass")

MAX_FAILURES = 5
WINDOW = 900.0
MAX_HEAD = 8192
MAX_BODY = 4096
READ_TIMEOUT = 10.0
STATE_FILE = "webmail-password.json"  # in secumaild's run directory (tmpfs, root only)

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed", 413: "Too Large",
            429: "Too Many Requests", 500: "Internal Server Error"}  # fmt: skip


class Refused(Exception):
    def __init__(self, status: int, line: str) -> None:
        super().__init__(line)
        self.status = status


def allowed_peer(settings: Settings, peer: str) -> bool:
    """Only the webmail container's address may ask."""
    from secumail.mail.webmail import webmail_address

    return peer.removeprefix("::ffff:") == str(webmail_address(settings).ip)


def _check_key(settings: Settings, headers: dict[str, str]) -> None:
    """The request carries the key Roundcube was configured with, or it is refused."""
    from secumail.system.files import read_secret

    fix = "run 'mailctl webmail configure'"
    try:
        key = read_secret(settings.layout.webmail_password_key, "webmail", fix).strip()
    except SecumailError:
        key = ""
    if not key:
        raise Refused(403, f"the webmail has no password key yet: {fix}")
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise Refused(403, "the request does not carry the webmail's password key")


# -- failures per mailbox ------------------------------------------------------------------------


@contextlib.contextmanager
def _failures(path: str):
    """{address: [unix times of failures]} under an exclusive lock, written back on exit."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            data = json.loads(handle.read() or "{}")
        except ValueError:
            data = {}
        now = time.time()
        data = {k: [t for t in v if now - t < WINDOW] for k, v in data.items() if isinstance(v, list)}
        yield data
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({k: v for k, v in data.items() if v}))


def _check_rate(state: str, address: str) -> None:
    with _failures(state) as data:
        if len(data.get(address, ())) >= MAX_FAILURES:
            raise Refused(429, "too many wrong passwords: try again later")


def _record(state: str, address: str, failed: bool) -> None:
    with _failures(state) as data:
        if failed:
            data.setdefault(address, []).append(time.time())
        else:
            data.pop(address, None)


# -- HTTP ---------------------------------------------------------------------------------------


def _read_request(conn: socket.socket) -> tuple[dict[str, str], dict[str, str]]:
    """The headers (lower-case names) and the form of one POST (urlencoded, each field once); Refused for
    anything else."""
    deadline = time.monotonic() + READ_TIMEOUT  # for the whole request, however slowly it trickles in

    def recv(size: int) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Refused(400, "the request took too long")
        conn.settimeout(left)
        try:
            return conn.recv(size)
        except TimeoutError:
            raise Refused(400, "the request took too long") from None

    data = b""
    while b"\r\n\r\n" not in data:
        chunk = recv(4096)
        if not chunk:
            raise Refused(400, "incomplete request")
        data += chunk
        if len(data) > MAX_HEAD + MAX_BODY:
            raise Refused(413, "request too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    if method != "POST":
        raise Refused(405, "POST only")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        raise Refused(400, "no Content-Length") from None
    if not 0 <= length <= MAX_BODY:
        raise Refused(413, "request too large")
    while len(body) < length:
        chunk = recv(length - len(body))
        if not chunk:
            raise Refused(400, "incomplete request")
        body += chunk
    try:
        fields = urllib.parse.parse_qs(body[:length].decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                                       max_num_fields=8)  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the form cannot be read") from None
    from secumail.mail.webmail import PASSWORD_FIELDS

    if any(len(fields.get(name, ())) != 1 for name in PASSWORD_FIELDS):
        raise Refused(400, f"the form must hold {', '.join(PASSWORD_FIELDS)} once each")
    return headers, {name: fields[name][0] for name in PASSWORD_FIELDS}


def _answer(conn: socket.socket, status: int, line: str) -> None:
    body = (line + "\n" if status != 200 else "OK").encode()
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    with contextlib.suppress(OSError):
        conn.sendall(head.encode() + body)


def serve(conn: socket.socket, settings: Settings, peer: str, *, state: str, runtime: Any = None) -> int:
    """Serve one request on `conn` from `peer`; returns the HTTP status answered."""
    from secumail.mail import accounts
    from secumail.mail.store import normalize_address
    from secumail.mail.webmail import PASSWORD_FIELDS

    user = "?"
    try:
        if not settings.webmail.enabled or not settings.webmail.password_port:
            raise Refused(403, "password change in the webmail is off")
        if not allowed_peer(settings, peer):
            raise Refused(403, "only the webmail container may change passwords here")
        headers, form = _read_request(conn)
        _check_key(settings, headers)
        user_field, current_field, new_field = PASSWORD_FIELDS
        try:
            user = normalize_address(form[user_field], "mailbox")
        except InputError:
            raise Refused(400, "the login is not a mailbox address") from None
        _check_rate(state, user)
        try:
            accounts.user_passwd_confirmed(settings, user, form[current_field], form[new_field], runtime=runtime)
        except accounts.WrongCurrentPassword as exc:
            _record(state, user, failed=True)
            raise Refused(403, str(exc)) from None
        except InputError as exc:  # the new password's policy
            raise Refused(400, str(exc)) from None
        _record(state, user, failed=False)
        status, line = 200, "password changed"
    except Refused as exc:
        status, line = exc.status, str(exc)
    except (SecumailError, OSError) as exc:
        status, line = 500, f"the password change failed: {exc}"
    _answer(conn, status, line)
    log_line = log.info if status == 200 else log.warning
    log_line("webmail password change for %s from %s: %s", user, peer, line)
    return status


def main(argv: list[str] | None = None) -> int:
    import argparse

    from secumail.system.log import setup_logging

    parser = argparse.ArgumentParser(prog="webmailpass", description="one password change from the webmail")
    parser.add_argument("--fd", type=int, required=True, help="the accepted connection")
    parser.add_argument("--confdir", help="UCI config directory")
    parser.add_argument("--state", required=True, help="file of failures per mailbox (root only)")
    args = parser.parse_args(argv)
    setup_logging("secumaild", stderr=not os.path.exists("/dev/log"))
    conn = socket.socket(fileno=args.fd)
    try:
        peer = conn.getpeername()[0]
    except OSError:
        return 1
    with conn:
        try:
            from secumail.appliance.ownership import ContainerRuntime
            from secumail.config import load_settings

            settings = load_settings(args.confdir)
        except SecumailError as exc:
            log.error("webmail password change: %s", exc)
            _answer(conn, 500, "the server's configuration cannot be read")
            return 1
        status = serve(conn, settings, peer, state=args.state, runtime=ContainerRuntime(settings))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
