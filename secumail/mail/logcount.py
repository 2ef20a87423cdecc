"""What one mail log line counts for the metrics: a message received, sent, rejected, … (pure).

Postfix logs one line per event, Dovecot one per failed login connection; the counters add
them up (secumail.appliance.metrics keeps the totals). Only the fields Postfix and Dovecot
write themselves are matched, as in secumail.mail.fail2ban, whose parser counts the login
failures here too.
"""

from __future__ import annotations

import re

from secumail.mail.fail2ban import parse_line as auth_failure

COUNTERS = ("received", "sent", "bounced", "deferred", "rejected", "spam_rejected", "auth_failures")

_TAG = r"^(?:[^:]|:(?! ))*?(?:^|\s)postfix(?:/[\w.-]+)*/"
_QID = r"[0-9A-Za-z]{5,20}"
# smtpd: ABC123: client=host[192.0.2.7]  |  pickup: ABC123: uid=0 from=<root>  (one per message queued)
_RECEIVED = re.compile(_TAG + r"(?:smtpd|pickup)\[\d+\]: " + _QID + r": (?:client|uid)=")
# lmtp/smtp/local/virtual/pipe: ABC123: to=<a@b>, relay=..., status=sent (250 ...)  (one per recipient)
_DELIVERY = re.compile(_TAG + r"(?:lmtp|smtp|local|virtual|pipe|error|discard)\[\d+\]: " + _QID
                       + r": to=<[^>]*>,.*?, status=(sent|bounced|deferred) ")  # fmt: skip
# smtpd/postscreen: NOQUEUE: reject: RCPT from ...  |  cleanup: ABC123: milter-reject: END-OF-MESSAGE ...
_REJECT = re.compile(_TAG + r"(?:smtpd|postscreen|cleanup)\[\d+\]: (?:NOQUEUE|" + _QID + r"): (milter-)?reject: ")
_SPAM = re.compile(r"\b[45]\.7\.1 (?:Spam message rejected|Gtube pattern)", re.IGNORECASE)


def count(line: str) -> dict[str, int]:
    """The counters this line adds to (usually none, at most two)."""
    if "postfix/" in line:
        if _RECEIVED.match(line):
            return {"received": 1}
        match = _DELIVERY.match(line)
        if match:
            return {match.group(1): 1}
        match = _REJECT.match(line)
        if match:
            spam = match.group(1) is not None and _SPAM.search(line) is not None
            return {"rejected": 1, "spam_rejected": 1} if spam else {"rejected": 1}
    failure = auth_failure(line)
    if failure is not None:
        return {"auth_failures": failure.count}
    return {}
