"""What a mail log line counts for in the metrics (secumail.mail.logcount)."""

from __future__ import annotations

import pytest

from secumail.mail.logcount import count

P = "Dec  6 03:00:01 mail "


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (P + "postfix/smtpd[812]: 4ABC12DEF: client=unknown[198.51.100.20]", {"received": 1}),
        (
            P + "postfix/submission/smtpd[90]: 4XYZ9ABCD: client=unknown[10.0.0.5], sasl_method=PLAIN, "
            "sasl_username=alice@a.test",
            {"received": 1},
        ),  # fmt: skip
        (P + "postfix/pickup[77]: 4QQQ1WWWE: uid=0 from=<root>", {"received": 1}),
        (
            P + "postfix/lmtp[301]: 4ABC12DEF: to=<alice@a.test>, relay=mail.a.test[private/dovecot-lmtp], "
            "delay=0.1, delays=0.05/0/0.02/0.03, dsn=2.0.0, status=sent (250 2.0.0 <alice@a.test> Saved)",
            {"sent": 1},
        ),  # fmt: skip
        (
            P + "postfix/smtp[302]: 4ABC12DEF: to=<bob@b.test>, relay=none, delay=30, dsn=4.4.1, "
            "status=deferred (connect to mail.b.test[198.51.100.20]:25: Connection timed out)",
            {"deferred": 1},
        ),
        (
            P + "postfix/smtp[302]: 4ABC12DEF: to=<x@b.test>, relay=mail.b.test[198.51.100.20]:25, dsn=5.1.1, "
            "status=bounced (host said: 550 5.1.1 no such user)",
            {"bounced": 1},
        ),  # fmt: skip
        (
            P + "postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[198.51.100.66]: 554 5.7.1 <x@c.example>: "
            "Relay access denied; from=<> to=<x@c.example> proto=ESMTP helo=<x>",
            {"rejected": 1},
        ),
        (
            P + "postfix/postscreen[55]: NOQUEUE: reject: RCPT from [198.51.100.50]:4711: 550 5.7.1 Service "
            "unavailable; client [198.51.100.50] blocked using dnsbl.test",
            {"rejected": 1},
        ),
        (
            P + "postfix/cleanup[66]: 4ABC12DEF: milter-reject: END-OF-MESSAGE from unknown[198.51.100.66]: "
            "5.7.1 Spam message rejected; from=<s@fg.test> to=<alice@a.test>",
            {"rejected": 1, "spam_rejected": 1},
        ),
        (
            P + "postfix/submission/smtpd[812]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: "
            "UGFzc3dvcmQ6",
            {"auth_failures": 1},
        ),  # fmt: skip
        (
            "Dec 06 03:00:02 imap-login: Info: Disconnected: Connection closed (auth failed, 2 attempts in 4 secs): "
            "user=<alice@a.test>, method=PLAIN, rip=192.0.2.7, lip=10.246.0.2, session=<abc>",
            {"auth_failures": 2},
        ),
        # what a client chose to say never counts: a user name or HELO quoting a status or a tag
        (P + "postfix/smtpd[812]: connect from unknown[198.51.100.66]", {}),
        (P + "postfix/qmgr[50]: 4ABC12DEF: from=<status=sent >, size=300, nrcpt=1 (queue active)", {}),
        (
            P + "postfix/smtpd[812]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 550 5.1.1 no; from=<a@b.example> "
            "to=<postfix/pickup[1]: ABCDEF: uid=0> helo=<x>",
            {"rejected": 1},
        ),  # fmt: skip
    ],
)
def test_each_line_counts_for_what_it_says(line, expected):
    assert count(line) == expected
