"""`mailctl relay test`: connect to a smarthost as Postfix would, TLS first, then AUTH; one line of result.

The probe runs from the router (the host) with the stored credentials: TCP, then STARTTLS (or TLS
from the first byte for `tls 'tls'`), the certificate checked when the relay's `verify` is on, then
AUTH. It never sends a message and never authenticates outside TLS. The password goes to the relay
only; it is in no line this returns.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from secumail.config.settings import Relay


@dataclass(frozen=True)
class Probe:
    relay: str
    ok: bool
    stage: str  # connect, tls, auth, done: how far it got
    message: str  # one line


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def probe(relay: Relay, password: str, *, helo: str, timeout: float = 10.0) -> Probe:
    """How far a login to `relay` gets (see module doc)."""
    where = f"{relay.nexthop}"
    stage = "connect"

    def failed(line: str) -> Probe:
        return Probe(relay.name, False, stage, f"relay {relay.name}: {line}")

    try:
        context = _tls_context(relay.verify)
        if relay.tls == "tls":
            stage = "tls"
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(relay.host, relay.port, local_hostname=helo, timeout=timeout,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(relay.host, relay.port, local_hostname=helo, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if relay.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    return failed(f"{where} does not offer STARTTLS: nothing was sent (no login without TLS)")
                stage = "tls"
                smtp.starttls(context=context)
                smtp.ehlo()
            version = smtp.sock.version() if isinstance(smtp.sock, ssl.SSLSocket) else "TLS"
            mode = "STARTTLS" if relay.tls == "starttls" else "TLS"
            stage = "auth"
            if not smtp.has_extn("auth"):
                return failed(f"{where} {mode} ({version}) ok, but it offers no AUTH")
            smtp.login(relay.user, password)
            return Probe(relay.name, True, "done",
                         f"relay {relay.name}: {where} {mode} ({version}) ok, AUTH as {relay.user} ok")
    except smtplib.SMTPAuthenticationError as exc:
        return failed(f"{where} refused the login of {relay.user} (wrong user or password?): {_reply(exc)}")
    except smtplib.SMTPNotSupportedError as exc:
        return failed(f"{where}: {exc}")
    except smtplib.SMTPResponseException as exc:
        return failed(f"{where} answered {_reply(exc)} during {stage}")
    except ssl.SSLCertVerificationError as exc:
        return failed(f"TLS with {where} failed: {exc.verify_message or exc.reason} "
                      f"(set verify 0 only for a relay you reach over a trusted path)")
    except ssl.SSLError as exc:
        return failed(f"TLS with {where} failed: {exc.reason or exc}")
    except smtplib.SMTPServerDisconnected as exc:
        return failed(f"{where} closed the connection during {stage}: {exc or 'no reason given'}")
    except (socket.timeout, TimeoutError):
        return failed(f"{where} did not answer within {timeout:g} s during {stage}")
    except OSError as exc:
        return failed(f"cannot connect to {where}: {exc.strerror or exc}")
