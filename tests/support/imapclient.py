"""Reading mail back the way a user's client does: IMAPS, a message found by a token in its body."""

from __future__ import annotations

import imaplib
import ssl
import time


def tls_context() -> ssl.SSLContext:
    """Trusts any certificate: the install-time one is self-signed (tests that check chains build their own)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap_wait(host: str, *, user: str, password: str, token: str, folder: str = "INBOX",
              timeout: float = 20, poll: float = 0.3) -> bytes:  # fmt: skip
    """The newest message of `user`'s `folder` at `host`:993 whose body carries `token`; waits up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL(host, 993, ssl_context=tls_context(), timeout=15) as imap:
            imap.login(user, password)
            imap.select(folder, readonly=True)
            _, found = imap.search(None, "BODY", token)
            if found[0]:
                _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                return data[0][1]
        if time.monotonic() > deadline:
            raise AssertionError(f"message {token} did not arrive in {user}'s {folder} at {host} within {timeout} s")
        time.sleep(poll)


def imap_login_ok(host: str, user: str, password: str) -> bool:
    """Whether `host`:993 accepts `user`'s `password` (a refusal is False, anything else raises)."""
    with imaplib.IMAP4_SSL(host, 993, ssl_context=tls_context(), timeout=15) as imap:
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error:
            return False
        imap.logout()
        return True


def folder_contents(imap: imaplib.IMAP4, wire_name: str) -> list[tuple[bytes, frozenset, int]]:
    """Every message of a folder as a client sees it: (whole message, flags but \\Recent, internal date as
    seconds), sorted; read-only, parsed with imaplib's own helpers. [] when the folder does not exist."""
    typ, _ = imap.select('"' + wire_name.replace("\\", "\\\\").replace('"', '\\"') + '"', readonly=True)
    if typ != "OK":
        return []
    typ, found = imap.uid("SEARCH", None, "ALL")
    contents = []
    for uid in found[0].split():
        _, meta = imap.uid("FETCH", uid, "(FLAGS INTERNALDATE)")
        _, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        flags = frozenset(f.decode() for f in imaplib.ParseFlags(meta[0])) - {"\\Recent"}
        when = int(time.mktime(imaplib.Internaldate2tuple(meta[0])))
        contents.append((data[0][1], flags, when))
    return sorted(contents, key=lambda item: (item[0], item[2]))
