"""mailctl domain|user|alias: mail accounts (files in data_path/config read by Postfix and Dovecot)."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, group, operation, read_password, table


def _domain_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "primary": "yes" if row["primary"] else ""} for row in rows]
    return table(shown, ["domain", "primary", "users", "aliases"])


def _size(n: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def _user_table(rows: list[dict[str, Any]]) -> str:
    shown = [
        {
            "address": row["address"],
            "quota": row["quota"],
            "used": _size(row["usage_bytes"]),
            "use%": "" if row["usage_percent"] is None else f"{row['usage_percent']}%",
        }
        for row in rows
    ]
    return table(shown, ["address", "quota", "used", "use%"])


def _alias_table(rows: list[dict[str, Any]]) -> str:
    shown = [
        {"source": row["source"] + (" (catch-all)" if row["catch_all"] else ""),
         "destinations": ", ".join(row["destinations"])}
        for row in rows
    ]
    return table(shown, ["source", "destinations"])


def _new_app_password(data: dict[str, Any]) -> str:
    return (f"app password {data['name']} for {data['address']} ({', '.join(data['scopes'])}):\n\n"
            f"    {data['password']}\n\n"
            f"Log in as {data['address']} with it. It is shown only now: only its hash is kept.")


def _app_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "scopes": ",".join(row["scopes"])} for row in rows]
    return table(shown, ["address", "name", "scopes", "created"])


def _done(data: dict[str, Any]) -> str:
    """One line saying what changed."""
    if "source" in data and "destinations" in data:
        return f"alias {data['source']} -> {', '.join(data['destinations'])}"
    if data.get("deleted") and "source" in data:
        return f"alias {data['source']} deleted"
    if "address" in data:
        if data.get("added"):
            return f"mailbox {data['address']} added (quota: {data['quota']})"
        if data.get("deleted"):
            kept = f"; mail kept in {data['mail_kept']}" if data.get("mail_kept") else "; mail deleted"
            return f"mailbox {data['address']} deleted{kept}"
        if data.get("password_changed"):
            return f"password of {data['address']} changed"
        return f"quota of {data['address']}: {data['quota']}"
    if data.get("added"):
        dkim = f"; DKIM key {data['dkim']}" if data.get("dkim") else ""
        return f"domain {data['domain']} added{dkim}"
    removed = len(data.get("users_removed", [])) + len(data.get("aliases_removed", []))
    return f"domain {data['domain']} deleted" + (f" with {removed} account(s)" if removed else "")


def _password(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    _ = ctx.settings  # config errors first, before asking for a password
    return {"password": read_password(args)}


def _new_password(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    _ = ctx.settings
    return {"password": read_password(args, "New password")}


def register(sub: argparse._SubParsersAction) -> None:
    domains = group(sub, "domain", "manage mail domains")
    p = operation(domains, "add", "domain.add", "add a mail domain", text=_done)
    p.add_argument("domain")
    p = operation(domains, "del", "domain.del", "delete a mail domain (refused while it has users)", text=_done)
    p.add_argument("domain")
    p.add_argument("--force", action="store_true",
                   help="also delete its mailboxes and aliases (stored mail is kept)")
    operation(domains, "list", "domain.list", "list mail domains", text=_domain_table)

    users = group(sub, "user", "manage mailboxes")
    p = operation(users, "add", "user.add", "add a mailbox (password from a prompt or --password-stdin)",
                  text=_done, secrets=_password)
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--quota", metavar="SIZE", help="mailbox quota, e.g. 500M or 2G (default: none)")
    p = operation(users, "del", "user.del", "delete a mailbox (mail is kept unless --purge)", text=_done)
    p.add_argument("address")
    p.add_argument("--purge", action="store_true", help="also delete the stored mail")
    operation(users, "list", "user.list", "list mailboxes with quota and usage", text=_user_table)
    p = operation(users, "passwd", "user.passwd", "change a mailbox password", text=_done,
                  secrets=_new_password)
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = operation(users, "quota", "user.quota", "set a mailbox quota (0 for none)", text=_done)
    p.add_argument("address")
    p.add_argument("size")

    apps = group(users, "app-password", "extra passwords for mail clients, one per app, revocable one by one")
    p = operation(apps, "add", "user.app-password.add",
                  "make an app password (shown once) for IMAP/POP3 and SMTP, or the --scope given",
                  text=_new_app_password)
    p.add_argument("address")
    p.add_argument("name", help="what it is for, e.g. phone or thunderbird (letters, digits, . _ -)")
    p.add_argument("--scope", metavar="LIST",
                   help="comma-separated: imap (IMAP and POP3), smtp (sending), dav (default: imap,smtp)")
    p = operation(apps, "list", "user.app-password.list", "list app passwords (names and scopes, never tokens)",
                  text=_app_table)
    p.add_argument("address", nargs="?")
    p = operation(apps, "del", "user.app-password.del", "revoke an app password (refused at once)",
                  text=lambda d: f"app password {d['name']} of {d['address']} revoked")
    p.add_argument("address")
    p.add_argument("name")

    p = operation(users, "profile", "user.profile",
                  "print the Apple configuration profile (.mobileconfig) of a mailbox, or write it to a file",
                  text=lambda d: d["profile"] if "written" not in d else f"profile of {d['address']} written to "
                  f"{d['written']}" + (f" with the new app password {d['app_password']}" if d["app_password"] else ""))
    p.add_argument("address")
    p.add_argument("--output", "-o", metavar="FILE", dest="file", help="write it to FILE (e.g. alice.mobileconfig)")
    p.add_argument("--app-password", metavar="NAME", dest="app_password",
                   help="make a new app password NAME (IMAP and SMTP, and DAV with features.dav) and put it inside; "
                        "the file is then 0600")

    aliases = group(sub, "alias", "manage aliases, forwards and catch-alls")
    p = operation(aliases, "add", "alias.add", "add an alias: SOURCE (or @domain for catch-all) → DEST...",
                  text=_done)
    p.add_argument("source")
    p.add_argument("destinations", nargs="+", metavar="DEST")
    p = operation(aliases, "del", "alias.del", "delete an alias", text=_done)
    p.add_argument("source")
    operation(aliases, "list", "alias.list", "list aliases", text=_alias_table)
