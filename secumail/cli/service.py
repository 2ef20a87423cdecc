"""mailctl start|stop|restart|status|install|logs|test: the service as a whole."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.cli.base import Context, command, pending


def register(sub: argparse._SubParsersAction) -> None:
    command(sub, "install", pending("mailctl install (the mail container)"),
            "build the container image, lay out data_path, configure and start the mail server")  # fmt: skip
    command(sub, "start", pending("mailctl start (the mail container)"), "start the mail server")
    command(sub, "stop", pending("mailctl stop (the mail container)"), "stop the mail server")
    command(sub, "restart", pending("mailctl restart (the mail container)"), "restart the mail server")
    command(sub, "status", status, "show configuration, container, services, ports and certificate state",
            text=status_text)  # fmt: skip
    p = command(sub, "logs", pending("mailctl logs (the mail container)"), "show the last N mail log lines")
    p.add_argument("lines", nargs="?", type=_positive, default=50, help="how many lines (default 50)")
    p = command(sub, "test", pending("mailctl test (the mail container)"),
                "send a test message through the server and report the result")  # fmt: skip
    p.add_argument("address", help="recipient address")


def _positive(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a line count (1-100000)")
    return int(value)


def status(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    from secumail.status import collect_status, status_from_daemon

    # Through secumaild when it runs (what LuCI polls), computed here otherwise: the same JSON.
    data = status_from_daemon(ctx.confdir)
    return data if data is not None else collect_status(ctx.settings)


def status_text(data: dict[str, Any]) -> str:
    main = data["config"]
    lines = [
        f"Mail server:  {main['fqdn']} (domain {main['domain']}) — {'enabled' if main['enabled'] else 'disabled'}",
        f"Container:    {data['container']['name']} — {data['container']['state']}",
    ]
    services = data.get("services") or {}
    if services:
        lines.append("Services:     " + ", ".join(f"{k} {'up' if v else 'DOWN'}" for k, v in services.items()))
    lines.append("Ports:        " + ", ".join(f"{k} {v}" for k, v in data["ports"].items()))
    cert = data.get("certificate") or {}
    lines.append(f"Certificate:  {cert.get('summary', 'none')}")
    lines.append(f"Mesh backup:  {'enabled' if data['mesh']['enabled'] else 'disabled'}")
    for note in data.get("notes", []):
        lines.append(f"Note:         {note}")
    return "\n".join(lines)

