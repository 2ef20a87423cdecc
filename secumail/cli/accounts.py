"""mailctl domain|user|alias: mail accounts (files in data_path/config read by Postfix and Dovecot)."""

from __future__ import annotations

import argparse

from secumail.cli.base import command, group, pending

ACCOUNTS = "account management (the mail container)"


def register(sub: argparse._SubParsersAction) -> None:
    domains = group(sub, "domain", "manage mail domains")
    p = command(domains, "add", pending(ACCOUNTS), "add a mail domain")
    p.add_argument("domain")
    p = command(domains, "del", pending(ACCOUNTS), "delete a mail domain (refused while it has users)")
    p.add_argument("domain")
    command(domains, "list", pending(ACCOUNTS), "list mail domains")

    users = group(sub, "user", "manage mailboxes")
    p = command(users, "add", pending(ACCOUNTS), "add a mailbox (password from a prompt or --password-stdin)")
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--quota", metavar="SIZE", help="mailbox quota, e.g. 500M or 2G (default: none)")
    p = command(users, "del", pending(ACCOUNTS), "delete a mailbox (mail is kept unless --purge)")
    p.add_argument("address")
    p.add_argument("--purge", action="store_true", help="also delete the stored mail")
    command(users, "list", pending(ACCOUNTS), "list mailboxes with quota and usage")
    p = command(users, "passwd", pending(ACCOUNTS), "change a mailbox password")
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = command(users, "quota", pending(ACCOUNTS), "set a mailbox quota (0 for none)")
    p.add_argument("address")
    p.add_argument("size")

    aliases = group(sub, "alias", "manage aliases, forwards and catch-alls")
    p = command(aliases, "add", pending(ACCOUNTS), "add an alias: SOURCE (or @domain for catch-all) → DEST...")
    p.add_argument("source")
    p.add_argument("destinations", nargs="+", metavar="DEST")
    p = command(aliases, "del", pending(ACCOUNTS), "delete an alias")
    p.add_argument("source")
    command(aliases, "list", pending(ACCOUNTS), "list aliases")
