"""Reports other mail servers send us: DMARC aggregate (RFC 7489) and TLS-RPT (RFC 8460).

docs/reports.md is the format this package implements: which mailboxes are read
(maildir.py, mailboxes.py), how a message gives up its report (message.py,
unpack.py), how XML and JSON are parsed without trusting them (dmarc.py,
tlsrpt.py) and what is summarised (summary.py). Everything is standard library;
a report that breaks a rule becomes one refusal line, never an exception.
"""
