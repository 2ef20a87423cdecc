"""An ISP's smarthost: a plain Postfix that wants SASL (Dovecot's) on 587 after STARTTLS (465: TLS).

It runs in its own LXC container (the Debian mail image, nothing of secumail's config). Two uses:
- the relay world (tests/integration/relay): on the appliance's bridge, every accepted message is
  put on hold, so a test reads it from the queue with postcat (`configure(container)`);
- the simulated internet (tests/support/internet.py, `Internet.isp()`): it delivers what it accepts
  to the recipient's MX, found through the internet's resolver (`configure(container, hold=False,
  resolver=...)`).
"""

from __future__ import annotations

import json
import time

USER = "relayuser@isp.test"
GOOD = "Corr3ct relay-pass"
BAD = "wr0ng relay-pass"
BIZ_USER, BIZ = "bizuser@isp.test", "B1z relay-pass"  # a second account, for mail of one sender domain
HOSTNAME = "smtp.isp.test"

MAIN_CF = """compatibility_level = 3.6
myhostname = {hostname}
mydestination =
inet_interfaces = all
inet_protocols = ipv4
maillog_file = /var/log/mail.log
alias_maps =
mynetworks = 127.0.0.0/8
smtpd_tls_cert_file = /etc/ssl/isp/cert.pem
smtpd_tls_key_file = /etc/ssl/isp/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_received_header = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_authenticated_header = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtp_tls_security_level = may
"""
# everything accepted waits in the hold queue: the test reads it there
HOLD = "smtpd_recipient_restrictions = check_client_access static:HOLD\n"

MASTER_CF = """smtp      inet  n       -       n       -       -       smtpd
587       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
465       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

DOVECOT_CONF = """protocols = none
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
log_path = /var/log/dovecot.log
passdb {
  driver = passwd-file
  args = scheme=PLAIN /etc/dovecot/relay-users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
"""

SETUP = """set -eu
mkdir -p /etc/ssl/isp /var/log
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=smtp.isp.test \
    -keyout /etc/ssl/isp/key.pem -out /etc/ssl/isp/cert.pem 2>/dev/null
chmod 600 /etc/ssl/isp/key.pem
rm -f /run/dovecot/master.pid /var/spool/postfix/pid/master.pid
dovecot </dev/null >/dev/null 2>&1
postfix start </dev/null >/dev/null 2>&1
"""


def put(container, path: str, text: str, mode: str = "0644") -> None:
    container.exec(["sh", "-c", f"cat > {path} && chmod {mode} {path}"], input=text, check=True)


def configure(container, *, hold: bool = True, resolver: str | None = None) -> None:
    """Set up and start Postfix and Dovecot; `hold` keeps every message, else it is delivered (by MX,
    `resolver` being the container's name server)."""
    if resolver is not None:
        put(container, "/etc/resolv.conf", f"nameserver {resolver}\n")
    put(container, "/etc/postfix/main.cf", MAIN_CF.format(hostname=HOSTNAME) + (HOLD if hold else ""))
    put(container, "/etc/postfix/master.cf", MASTER_CF)
    put(container, "/etc/dovecot/dovecot.conf", DOVECOT_CONF)
    # the ISP's user database (the smarthost's own secret, on stdin like every secret here)
    put(container, "/etc/dovecot/relay-users", f"{USER}:{{PLAIN}}{GOOD}\n{BIZ_USER}:{{PLAIN}}{BIZ}\n", "0640")
    container.exec(["chgrp", "dovecot", "/etc/dovecot/relay-users"], check=True)
    container.exec(["sh", "-c", SETUP], check=True, timeout=60)


def held(container) -> list[dict]:
    """The smarthost's queue (postqueue -j), one dict per message."""
    out = container.exec(["postqueue", "-j"]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_held(container, rcpt: str, token: str, timeout: float = 60) -> str:
    """The headers and body of the held message for `rcpt` carrying `token` (postcat)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in held(container):
            if any(r["address"] == rcpt for r in message["recipients"]):
                text = container.exec(["postcat", "-bhq", message["queue_id"]]).stdout
                if token in text:
                    return text
        time.sleep(0.5)
    raise AssertionError(f"no message {token} for {rcpt} reached the smarthost within {timeout} s")
