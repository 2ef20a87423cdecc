"""Radicale auth plugin (`[auth] type = secumail_dovecot_auth`): asks Dovecot whether a login is good.

Shipped by secumail into the mail container (secumail.mail.dav) and run by Debian's Radicale 3.1,
which has no Dovecot auth of its own. Every check goes to Dovecot's auth server over its client
protocol (VERSION/CPID handshake, then AUTH with mechanism PLAIN and service=dav), so the mailbox
password and the app passwords of scope dav work, and a revoked app password fails on the very next
request: nothing is cached here. `secured`: the request came over Radicale's TLS (Dovecot refuses
plaintext mechanisms otherwise, disable_plaintext_auth).

The client's address goes to Dovecot as rip (its per-address penalty then counts DAV failures too),
and every refused login is logged as one line "secumail-dav: auth failed: rip=<address>" that
secumail's fail2ban and metrics read in /var/log/radicale.log (secumail.mail.fail2ban). Radicale's
login() gets no address: get_external_login(environ), which Radicale calls first in the request's
own thread, keeps REMOTE_ADDR (the TCP peer; X-Forwarded-For is the client's text) for it. When
Dovecot cannot be asked the login is refused (and not counted as a failure of the client's).
"""

import base64
import ipaddress
import itertools
import os
import socket
import threading

from radicale import auth
from radicale.log import logger

SOCKET = "/run/dovecot/auth-dav"  # secumail.mail.dav.AUTH_SOCKET: the listener dovecot.conf adds
SERVICE = "dav"  # Dovecot's %s: selects app-passwords.dav
TIMEOUT = 30.0  # Dovecot delays a failure by auth_failure_delay (seconds) before it answers
_ids = itertools.count(1)
_request = threading.local()  # the address of the request this thread serves


def _fields(line: str) -> dict:
    return dict(part.split("=", 1) if "=" in part else (part, "") for part in line.split("\t")[2:])


def check(login: str, password: str, socket_path: str = SOCKET, remote: str = "") -> str:
    """The user name Dovecot accepts `login` as, or "" for a wrong login or password; `remote` (an
    IP address) is the client's, passed as rip. OSError when Dovecot cannot be asked."""
    if not login or not password or any(c in login + password for c in "\0\t\n"):
        return ""
    rip = f"\trip={ipaddress.ip_address(remote)}" if remote else ""
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
        conn.sendall(f"AUTH\t{request}\tPLAIN\tservice={SERVICE}\tsecured{rip}\tresp={response}\n".encode())
        for line in reader:
            line = line.rstrip("\n")
            verdict, _, rest = line.partition("\t")
            if rest.split("\t", 1)[0] != str(request):
                continue
            if verdict == "OK":
                return _fields(line).get("user") or login
            return ""  # FAIL (or CONT, which PLAIN with its initial response never needs)
    raise OSError("Dovecot closed the auth connection without an answer")


def client_address(environ: dict) -> str:
    """The TCP peer of a request ("" when it is not an IP address)."""
    try:
        return str(ipaddress.ip_address(environ.get("REMOTE_ADDR", "")))
    except ValueError:
        return ""


class Auth(auth.BaseAuth):
    def get_external_login(self, environ):
        _request.address = client_address(environ)
        return ()  # Radicale reads the Basic credentials itself

    def login(self, login: str, password: str) -> str:
        address = getattr(_request, "address", "")
        _request.address = ""
        try:
            user = check(login, password, remote=address)
        except Exception as e:  # noqa: BLE001 - whatever went wrong, the login is refused
            logger.error("Dovecot auth (%s): %s", SOCKET, e)
            return ""
        if not user:
            logger.warning("secumail-dav: auth failed: rip=%s", address or "unknown")
        return user
