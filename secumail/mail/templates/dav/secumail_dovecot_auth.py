"""Radicale auth plugin (`[auth] type = secumail_dovecot_auth`): asks Dovecot whether a login is good.

Shipped by secumail into the mail container (secumail.mail.dav) and run by Debian's Radicale 3.1,
which has no Dovecot auth of its own. Every check goes to Dovecot's auth server over its client
protocol (VERSION/CPID handshake, then AUTH with mechanism PLAIN and service=dav), so the mailbox
password and the app passwords of scope dav work, and a revoked app password fails on the very next
request: nothing is cached here. `secured`: the request came over Radicale's TLS (Dovecot refuses
plaintext mechanisms otherwise, disable_plaintext_auth).
"""

import base64
import itertools
import os
import socket

from radicale import auth
from radicale.log import logger

SOCKET = "/run/dovecot/auth-dav"  # secumail.mail.dav.AUTH_SOCKET: the listener dovecot.conf adds
SERVICE = "dav"  # Dovecot's %s: selects app-passwords.dav
TIMEOUT = 30.0  # Dovecot delays a failure by auth_failure_delay (seconds) before it answers
_ids = itertools.count(1)


def _fields(line: str) -> dict:
    return dict(part.split("=", 1) if "=" in part else (part, "") for part in line.split("\t")[2:])


def check(login: str, password: str, socket_path: str = SOCKET) -> str:
    """The user name Dovecot accepts `login` as, or "" for a wrong login or password."""
    if not login or not password or any(c in login + password for c in "\0\t\n"):
        return ""
    request = next(_ids)
    response = base64.b64encode(b"\0" + login.encode() + b"\0" + password.encode()).decode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(socket_path)
        conn.sendall(f"VERSION\t1\t2\nCPID\t{os.getpid()}\n".encode())
        reader = conn.makefile("r", encoding="utf-8", newline="\n")
        for line in reader:  # the server's handshake ends with DONE
            if line.rstrip("\n") == "DONE":
                break
        else:
            raise OSError("Dovecot closed the auth connection during the handshake")
        conn.sendall(f"AUTH\t{request}\tPLAIN\tservice={SERVICE}\tsecured\tresp={response}\n".encode())
        for line in reader:
            line = line.rstrip("\n")
            verdict, _, rest = line.partition("\t")
            if rest.split("\t", 1)[0] != str(request):
                continue
            if verdict == "OK":
                return _fields(line).get("user") or login
            return ""  # FAIL (or CONT, which PLAIN with its initial response never needs)
    raise OSError("Dovecot closed the auth connection without an answer")


class Auth(auth.BaseAuth):
    def login(self, login: str, password: str) -> str:
        try:
            return check(login, password)
        except OSError as e:
            logger.error("Dovecot auth (%s): %s", SOCKET, e)
            return ""
