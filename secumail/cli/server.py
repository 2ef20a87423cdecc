"""mailctl start|stop|restart|status|install|logs|test: the mail server as a whole."""

from __future__ import annotations

import argparse
from typing import Any

from secumail.appliance.operations import OPERATIONS
from secumail.cli.base import Context, command, operation


def register(sub: argparse._SubParsersAction) -> None:
    operation(sub, "install", "install",
              "build the container image, lay out data_path, configure and start the mail server",
              text=_result_text, after=_ensure_agent)  # fmt: skip
    operation(sub, "start", "start", "start the mail server (sets mailserver.main.enabled=1)", text=_result_text,
              after=_ensure_agent)  # fmt: skip
    operation(sub, "stop", "stop", "stop the mail server (sets mailserver.main.enabled=0)", text=_result_text)
    operation(sub, "restart", "restart", "restart the mail server", text=_result_text, after=_ensure_agent)
    p = operation(sub, "update", "update", "make a new container image, self-test it beside the running one, "
                  "switch over (the previous image is kept)", text=_update_text)  # fmt: skip
    p.add_argument("--image", metavar="FILE", help="import the image from FILE (.tar.zst or .tar.gz, as "
                   "'mailctl image export' writes) instead of building it")  # fmt: skip
    p.add_argument("--rollback", action="store_true", help="go back to the previous image and config generation")
    p = command(sub, "status", status, "show configuration, container, services, ports and certificate state",
                text=status_text)  # fmt: skip
    p.set_defaults(operation="status")  # asked of secumaild first
    operation(sub, "diagnose", "diagnose", "check everything (DNS, certificate, ports, queue, disk, backups, …) "
              "and say how to fix what is wrong; exit 1 when a check fails", text=diagnose_text)  # fmt: skip
    operation(sub, "charts", "charts", "messages received/sent/rejected per hour over the last 24 h, the queue, "
              "and storage per mailbox (what LuCI's Overview draws)", text=charts_text)  # fmt: skip
    p = operation(sub, "metrics", "metrics", "print the Prometheus metrics (counters from the mail logs, gauges)",
                  text=_metrics_text)  # fmt: skip
    p.add_argument("--textfile", metavar="PATH", help="write them to PATH atomically instead (a node exporter's "
                   "textfile directory, e.g. /var/prometheus/secumail.prom on OpenWrt)")  # fmt: skip
    p = operation(sub, "logs", "logs", "show the last N mail log lines (Postfix, Dovecot and ClamAV, merged)",
                  text=lambda lines: "\n".join(lines))  # fmt: skip
    p.add_argument("lines", nargs="?", type=_positive, default=50, help="how many lines (default 50)")
    p = operation(sub, "test", "test", "send a test message through the server and report the result",
                  text=_test_text)  # fmt: skip
    p.add_argument("address", help="recipient address")
    p.add_argument("--wait", type=float, default=20.0, help="seconds to follow the delivery (default 20)")


def _ensure_agent(ctx: Context, result: dict[str, Any]) -> dict[str, Any]:
    """On OpenWrt secumaild runs under procd: start/install make sure it does (it keeps the container up,
    renews certificates, backs up). Elsewhere the agent is started on purpose (`secumaild`, or `make demo`)."""
    from secumail.daemon.launcher import ensure_daemon_running, procd_available

    if procd_available():
        ensure_daemon_running(ctx.confdir)
        result["agent"] = "running"
    return result


def diagnose_text(data: dict[str, Any]) -> str:
    width = max((len(c["name"]) for c in data["checks"] + data["skipped"]), default=0)
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for check in data["checks"]:
        lines.append(f"{marks[check['status']]}  {check['name']:<{width}}  {check['detail']}")
        if check["hint"]:
            lines.append(f"      {'':<{width}}  → {check['hint']}")
    for skipped in data["skipped"]:
        lines.append(f"--    {skipped['name']:<{width}}  not checked: {skipped['why']}")
    counts = {state: sum(1 for c in data["checks"] if c["status"] == state) for state in marks}
    lines.append(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed in {data['elapsed']:g} s")
    return "\n".join(lines)


def charts_text(data: dict[str, Any]) -> str:
    import time

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    lines = [f"{'hour':<16}  {'received':>8}  {'sent':>6}  {'rejected':>8}  {'queue':>5}"]
    for row in data["hours"]:
        start = time.strftime("%Y-%m-%d %H:00", time.localtime(row["start"]))
        lines.append(f"{start:<16}  {cell(row['received']):>8}  {cell(row['sent']):>6}  "
                     f"{cell(row['rejected']):>8}  {cell(row['queue']):>5}")  # fmt: skip
    lines.append(f"queue now: {cell(data['queue'])}")
    for box in data["mailboxes"]:
        quota = f"{box['quota_bytes']} bytes" if box["quota_bytes"] else "no quota"
        lines.append(f"{box['address']}: {box['usage_bytes']} bytes of {quota}")
    return "\n".join(lines)


def _metrics_text(data: dict[str, Any]) -> str:
    return f"wrote {len(data['metrics'])} metrics to {data['textfile']}" if data["textfile"] else data["text"]


def _result_text(data: dict[str, Any]) -> str:
    parts = [f"{key}: {value}" for key, value in data.items() if key != "result"]
    return "ok — " + ", ".join(parts)


def _test_text(data: dict[str, Any]) -> str:
    line = f"test message to {data['recipient']}: {data['status']} (queue id {data['queue_id'] or 'unknown'})"
    return line + (f"\n{data['detail']}" if data.get("detail") else "")


def _positive(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a line count (1-100000)")
    return int(value)


def status(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    # Through secumaild when it runs (what LuCI polls), computed here otherwise: the same JSON.
    data = status_from_daemon(ctx.confdir)
    return data if data is not None else OPERATIONS["status"].run(ctx, {})


def status_from_daemon(config_dir: str | None = None) -> dict[str, Any] | None:
    """The status JSON from a running secumaild (fast, no lxc-info of our own), None when none answers.

    The daemon answers only for the config directory it reads; any error
    (not running, not root, other confdir, invalid config) means: compute it here.
    """
    import os

    from secumail.config import confdir
    from secumail.daemon.client import call, socket_path
    from secumail.errors import SecumailError

    if not os.path.exists(socket_path()):
        return None

    try:
        reply = call("status", {"confdir": confdir(config_dir)}, timeout=10)
    except SecumailError:
        return None
    return reply if isinstance(reply, dict) else None


def status_text(data: dict[str, Any]) -> str:
    main = data["config"]
    lines = [
        f"Mail server:  {main['fqdn']} (domain {main['domain']}) — {'enabled' if main['enabled'] else 'disabled'}",
        f"Container:    {data['container']['name']} — {data['container']['state']}",
    ]
    memory = data["container"].get("memory")
    if memory:
        lines[-1] += f", memory {memory['used'] / 2**20:.0f} of {memory['limit'] / 2**20:.0f} MiB"
    services = data.get("services") or {}
    if services:
        lines.append("Services:     " + ", ".join(f"{k} {'up' if v else 'DOWN'}" for k, v in services.items()))
    if data.get("queue") is not None:
        lines.append(f"Queue:        {data['queue']} message(s)")
    lines.append("Ports:        " + ", ".join(f"{k} {v}" for k, v in data["ports"].items()))
    cert = data.get("certificate") or {}
    lines.append(f"Certificate:  {cert.get('summary', 'none')}")
    dkim = data.get("dkim") or {}
    if dkim.get("enabled"):
        key = "present" if dkim.get("key_present") else "MISSING"
        lines.append(f"DKIM:         selector {dkim['selector']}, key {key}")
    lines.append(_dav_line(data.get("dav") or {}))
    lines.append(f"Mesh backup:  {'enabled' if data['mesh']['enabled'] else 'disabled'}")
    for index, item in enumerate(data.get("protection") or []):
        label = "Protection:   " if index == 0 else "              "
        lines.append(f"{label}{item['name']}: {item['state']} ({item['why']})")
    lines.extend(_delivery_lines(data.get("delivery") or {}))
    if data.get("web"):
        lines.append(_web_line(data["web"], main["domain"]))
    if data.get("mta_sts"):
        lines.append(_mta_sts_line(data["mta_sts"]))
    for note in data.get("notes", []):
        lines.append(f"Note:         {note}")
    return "\n".join(lines)



def _dav_line(dav: dict[str, Any]) -> str:
    if not dav.get("enabled"):
        return "Calendars:    off (features.dav 0)"
    answer = {True: "answering", False: "NOT answering", None: "container not running"}[dav.get("answering")]
    return (f"Calendars:    CalDAV/CardDAV on port {dav.get('port')}, {answer}, "
            f"{dav.get('users', 0)} mailbox(es) with data")


def _when(stamp: Any) -> str:
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(stamp)))
    except (TypeError, ValueError, OverflowError):
        return "?"


def _web_line(web: dict[str, Any], domain: str) -> str:
    """What the container's web server serves on 443 (secumail.mail.webserve) and whether it answers;
    the names are shown for the main domain, every mail domain has the same."""
    if not web["serves"]:
        return "HTTPS 443:    nothing served"
    up = {True: ", answering", False: ", NOT answering", None: ""}[web.get("answering")]
    return f"HTTPS 443:    {', '.join(f'{name}.{domain}' for name in web['serves'])} (each mail domain's){up}"


def _mta_sts_line(sts: dict[str, Any]) -> str:
    """Our policy (mode, served on 443 or not) and the outbound checks, in one line."""
    if sts["mode"] == "none":
        served = "policy none, not served"
    else:
        up = {True: ", answering", False: ", NOT answering", None: ""}[sts.get("served")]
        served = f"policy {sts['mode']}, served on 443{up}"
    outbound = "checks other domains' policies" if sts.get("outbound") else "other domains' policies not checked"
    return f"MTA-STS:      {served}; {outbound}; DANE {'on' if sts.get('dane') else 'off'}"


def _delivery_lines(delivery: dict[str, Any]) -> list[str]:
    """Outbound port 25 (the last dns-check's probe) and the relays (their last login test)."""
    port25 = delivery.get("port25")
    if port25:
        lines = [f"Port 25 out:  {port25['state']} (dns-check {_when(port25.get('checked'))}: {port25['detail']})"]
    else:
        lines = ["Port 25 out:  not probed yet (set dns.smtp_probe, then 'mailctl dns-check')"]
    for index, relay in enumerate(delivery.get("relays") or []):
        label = "Relay:        " if index == 0 else "              "
        carries = "default relayhost" if relay["default"] else f"for {', '.join(relay['sender_domain'])}"
        test = relay.get("last_test")
        result = ("not tested yet ('mailctl relay test')" if test is None else
                  f"last test {'ok' if test.get('ok') else 'FAILED'} {_when(test.get('tested'))}")  # fmt: skip
        lines.append(f"{label}{relay['name']} {relay['nexthop']}, {carries}: {result}")
    return lines


def _update_text(data: dict[str, Any]) -> str:
    test = data["self_test"]
    return (f"updated ({data['source']}): self-test passed (banner {test['banner_seconds']:g} s, message round trip "
            f"{test['round_trip_seconds']:g} s); SMTP answered {data['switch_seconds']:g} s after the old "
            f"container stopped\nconfig generation {data['generation']}; previous image kept for "
            f"'mailctl update --rollback'")
