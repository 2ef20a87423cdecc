"""mailctl relay add|del|list|test: smarthosts (`config relay` sections; docs/relay.md)."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, group, operation, read_password, table


def _password(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    _ = ctx.settings  # config errors first, before asking for a password
    return {"password": read_password(args, "Relay password")}


def _list_text(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "for": ", ".join(row["sender_domain"]) or "(default)",
              "verify": "yes" if row["verify"] else "no",
              "password": "stored" if row["password_stored"] else "MISSING"} for row in rows]
    return table(shown, ["name", "host", "port", "tls", "verify", "user", "for", "password"])


def _added_text(data: dict[str, Any]) -> str:
    scope = f"for {', '.join(data['sender_domain'])}" if data["sender_domain"] else "default relayhost"
    live = "" if data["applied"] else " (takes effect at 'mailctl install')"
    return f"relay {data['name']}: {data['user']} at [{data['host']}]:{data['port']} ({data['tls']}), {scope}{live}"


def _test_text(rows: list[dict[str, Any]]) -> str:
    return "\n".join(row["message"] for row in rows)


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "relay", "send outbound mail through a smarthost (SASL over TLS)")
    p = operation(cmds, "add", "relay.add",
                  "add or replace a relay (password from a prompt or --password-stdin, never an argument)",
                  text=_added_text, secrets=_password)
    p.add_argument("name", help="section name: letters, digits, '_'")
    p.add_argument("host", help="host name or IP address of the relay")
    p.add_argument("--port", type=int, help="default 587 (starttls) or 465 (tls)")
    p.add_argument("--tls", choices=("starttls", "tls"), default="starttls",
                   help="starttls (port 587, default) or tls (TLS from the first byte, port 465)")
    p.add_argument("--user", required=True, help="login at the relay")
    p.add_argument("--sender-domain", dest="sender_domain", action="append", metavar="DOMAIN",
                   help="only mail from this sender domain (repeat for more); none: the default relayhost")
    p.add_argument("--no-verify", dest="no_verify", action="store_true",
                   help="encrypt without checking the relay's certificate")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = operation(cmds, "del", "relay.del", "delete a relay and its stored password",
                  text=lambda d: f"relay {d['name']} deleted")
    p.add_argument("name")
    operation(cmds, "list", "relay.list", "list relays (never their passwords)", text=_list_text)
    p = operation(cmds, "test", "relay.test",
                  "log in to a relay (TLS, then AUTH) with the stored password; one line each", text=_test_text)
    p.add_argument("name", nargs="?", help="the relay (default: every relay)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per step (default 10)")
