"""An old IMAP server to move in from: a plain Dovecot (the Debian mail image, nothing of secumail's config)
in its own LXC container, IMAPS only, with a self-signed certificate for its IP address and one account.
Its folders are plain directories (LAYOUT=fs), so a name may hold a '.' as on many providers.

Used by the import tests (tests/integration/imports) and the import bench (bench/imap_import.py):
`configure(container, ip)` starts it and returns the certificate (PEM) to pin; `connect(ip, cafile)` logs
in as the account; `seed(imap, folders)` fills it with APPEND (flags and internal dates as given).
"""

from __future__ import annotations

import imaplib
import ssl

LOGIN, PASSWORD = "olduser", "0ld pass w0rd"

DOVECOT_CONF = r"""protocols = imap
listen = *
ssl = required
ssl_cert = </etc/dovecot/old-cert.pem
ssl_key = </etc/dovecot/old-key.pem
disable_plaintext_auth = yes
log_path = /var/log/dovecot.log
mail_location = maildir:/srv/old/%u:LAYOUT=fs
first_valid_uid = 8
mail_max_userip_connections = 50
namespace inbox {
  inbox = yes
  separator = /
  mailbox "Sent Messages" {
    special_use = \Sent
  }
  mailbox "Spam Box" {
    special_use = \Junk
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN /etc/dovecot/old-users
}
userdb {
  driver = static
  args = uid=8 gid=8 home=/srv/old/%u
}
"""

SETUP = """set -eu
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=old.test -addext "subjectAltName=IP:$1" \
    -keyout /etc/dovecot/old-key.pem -out /etc/dovecot/old-cert.pem 2>/dev/null
chmod 600 /etc/dovecot/old-key.pem
mkdir -p /srv/old && chown mail:mail /srv/old
rm -f /run/dovecot/master.pid
dovecot </dev/null >/dev/null 2>&1
"""


def configure(container, ip: str) -> str:
    """Start the old server in `container` (reachable at `ip`); its certificate, PEM."""
    container.write_file("/etc/dovecot/dovecot.conf", DOVECOT_CONF)
    # the old provider's own user database (its secret, on stdin like every secret here)
    container.write_file("/etc/dovecot/old-users", f"{LOGIN}:{{PLAIN}}{PASSWORD}\n", mode=0o640)
    container.exec(["chgrp", "dovecot", "/etc/dovecot/old-users"], check=True)
    container.exec(["sh", "-c", SETUP, "old-setup", ip], check=True, timeout=60)
    return container.read_file("/etc/dovecot/old-cert.pem")


def connect(ip: str, cafile: str) -> imaplib.IMAP4_SSL:
    """Logged in at the old server as its user, its certificate checked against `cafile`."""
    imap = imaplib.IMAP4_SSL(ip, 993, ssl_context=ssl.create_default_context(cafile=cafile), timeout=30)
    imap.login(LOGIN, PASSWORD)
    return imap


def quote(wire_name: str) -> str:
    return '"' + wire_name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def message(token: str, *, subject: str = "", size: int = 0, message_id: bool = True) -> bytes:
    """A message carrying `token`, about `size` bytes of body."""
    head = f"From: someone@old.test\r\nTo: olduser@old.test\r\nSubject: {subject or token}\r\n"
    if message_id:
        head += f"Message-ID: <{token}@old.test>\r\n"
    line = "x" * 76 + "\r\n"
    return (head + f"\r\ntoken {token}\r\n" + line * (size // len(line))).encode()


def seed(imap: imaplib.IMAP4, folder: str, messages: list[tuple[bytes, str, str]]) -> None:
    """APPEND each (body, flags like '(\\Seen $Forwarded)', internal date like '"01-Feb-2020 10:11:12 +0100"')
    to `folder` (its wire name: modified UTF-7), creating it first."""
    typ, data = imap.create(quote(folder))
    assert typ == "OK" or b"ALREADYEXISTS" in data[0], data
    for body, flags, date in messages:
        typ, data = imap.append(quote(folder), flags, date, body)
        assert typ == "OK", data
