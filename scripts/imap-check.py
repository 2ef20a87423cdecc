"""Log in over IMAPS (password on stdin) and print the newest message's subject: the demo's read-back."""

import email
import imaplib
import ssl
import sys

host, user = sys.argv[1], sys.argv[2]
password = sys.stdin.readline().rstrip("\n")
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE  # the demo runs on the self-signed certificate made at install
with imaplib.IMAP4_SSL(host, 993, ssl_context=context) as imap:
    imap.login(user, password)
    _, data = imap.select("INBOX", readonly=True)
    count = int(data[0])
    if count == 0:
        sys.exit("demo: the inbox is empty")
    _, fetched = imap.fetch(str(count), "(BODY.PEEK[HEADER.FIELDS (SUBJECT DATE)])")
    headers = email.message_from_bytes(fetched[0][1])
    print(f"IMAPS {host}:993 {user}: {count} message(s); newest: {headers['Subject']!r} ({headers['Date']})")
