"""mailctl webmail install|status|configure|remove: Roundcube in a container of its own."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, group, operation, read_password


def register(sub: argparse._SubParsersAction) -> None:
    cmds = group(sub, "webmail", "Roundcube webmail in its own container")
    operation(cmds, "install", "webmail.install", "build the webmail image, configure and start Roundcube",
              text=_done)  # fmt: skip
    operation(cmds, "configure", "webmail.configure", "write Roundcube's configuration from UCI again and restart it",
              text=_done)  # fmt: skip
    p = operation(cmds, "status", "webmail.status", "say whether Roundcube answers, reaches IMAP over TLS and "
                  "(with --user) lets a user log in; exit 1 when not", text=status_text, secrets=_password)  # fmt: skip
    p.add_argument("--user", metavar="ADDRESS", help="also log in through Roundcube as ADDRESS")
    p.add_argument("--password-stdin", action="store_true", help="read that user's password from standard input")
    p = operation(cmds, "remove", "webmail.remove", "stop and delete the webmail container (its database stays)",
                  text=_done)  # fmt: skip
    p.add_argument("--purge", action="store_true", help="delete its database and key too")


def _password(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    if not args.user:
        return {}
    _ = ctx.settings
    return {"password": read_password(args, f"Password of {args.user}", confirm=False)}


def _done(data: dict[str, Any]) -> str:
    return "ok — " + ", ".join(f"{key}: {value}" for key, value in data.items() if key != "result")


def status_text(data: dict[str, Any]) -> str:
    def line(label: str, check: dict[str, Any] | None) -> str:
        return f"{label:<14}" + ("not checked" if check is None else
                                 f"{'ok' if check['ok'] else 'FAILED'} ({check['detail']})")  # fmt: skip

    lines = [f"Webmail:      {data['container']} — {data['state']}, {data['url']}"]
    if data["state"] == "RUNNING":
        lines += [line("Login page:", data["http"]), line("IMAP TLS:", data["imap_tls"])]
        if data["login"] is not None:
            lines.append(line("Test login:", data["login"]))
    return "\n".join(lines)
