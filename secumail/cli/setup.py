"""mailctl setup: the guided first run (prompts, or --answers FILE), and `mailctl setup-step` for one step.

Every step is an operation (secumail.appliance.setup); its progress is kept in data_path, so a
second `mailctl setup` resumes at the first step not done. Secrets come from prompts (getpass)
or the answers file (mode 0600), never from argv.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from secumail.appliance import wizard
from secumail.appliance.operations import OPERATIONS
from secumail.cli.base import Context, UsageError, command, group, operation, read_password
from secumail.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "setup", run, "guided first run: domain, DNS, records, container, certificate, first mailbox; "
                "resumes where the last run stopped", text=status_text)  # fmt: skip
    how = p.add_mutually_exclusive_group()
    how.add_argument("--answers", metavar="FILE", help="take every answer from FILE (INI, mode 0600: docs/setup.md)")
    how.add_argument("--status", action="store_true", help="show which steps are done, failed (and why) or pending")
    how.add_argument("--reset", action="store_true", help="forget the progress and start at the first step")
    steps = group(sub, "setup-step", "run one step of the setup (what the LuCI wizard calls)")
    operation(steps, "status", "setup.status", "show the setup's progress", text=status_text)
    operation(steps, "reset", "setup.reset", "forget the setup's progress", text=status_text)
    s = operation(steps, "identity", "setup.identity", "set the mail domain and the server's host name")
    s.add_argument("domain")
    s.add_argument("--hostname", default="mail", help="host label or FQDN (default: mail)")
    s = operation(steps, "dns", "setup.dns", "choose the DNS provider and test its credentials (read-only)",
                  secrets=_credentials)  # fmt: skip
    s.add_argument("provider")
    s.add_argument("--server", help="provider server (rfc2136 primary, API URL)")
    s.add_argument("--zone", help="zone to update (default: found from SOA)")
    s.add_argument("--credentials-stdin", action="store_true", help="read KEY=VALUE words from stdin")
    operation(steps, "plan", "setup.plan", "show the DNS changes the next step makes", text=_plan_text)
    operation(steps, "records", "setup.records", "publish the DNS records", text=_plan_text)
    operation(steps, "install", "setup.install", "build the image and start the mail container")
    s = operation(steps, "certificate", "setup.certificate", "obtain the TLS certificate")
    s.add_argument("--type", help="certificate source (mailserver.ssl.type)")
    s.add_argument("--directory", help="ACME directory URL")
    s.add_argument("--ca-bundle", dest="ca_bundle", help="CA bundle the ACME server's certificate chains to")
    s.add_argument("--email", help="ACME account contact")
    s = operation(steps, "mailbox", "setup.mailbox", "create the first mailbox",
                  secrets=lambda ctx, args: {"password": read_password(args)})  # fmt: skip
    s.add_argument("address")
    s.add_argument("--quota", help="size, like 2G")
    s.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    s = operation(steps, "finish", "setup.finish", "client settings and the phone profile's QR code",
                  text=finish_text)  # fmt: skip
    s.add_argument("--address", help="mailbox (default: the one the setup created)")


def _credentials(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    if args.credentials_stdin:
        return {"credentials": sys.stdin.readline().strip()}
    return {"credentials": _ask_credentials(args.provider)}


def _ask_credentials(provider: str) -> str:
    from secumail.appliance.answers import credentials_line
    from secumail.dns.providers.base import provider_class

    keys = provider_class(provider).credential_keys
    if keys and not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the DNS credentials: use --credentials-stdin")
    import getpass

    return credentials_line({key: getpass.getpass(f"{label} ({key}): ").strip() for key, label in keys.items()})


# --- texts ------------------------------------------------------------------------------------------


def status_text(data: dict[str, Any]) -> str:
    marks = {"done": "done   ", "failed": "FAILED ", "pending": "pending"}
    lines = []
    for row in data["steps"]:
        line = f"{marks.get(row['status'], row['status'])}  {row['step']:<12} {row['title']}"
        if row["reason"]:
            line += f"\n         → {row['reason']}"
        lines.append(line)
    lines.append("setup complete" if data["complete"] else f"next: {data['next']} (run 'mailctl setup')")
    if data.get("client"):
        lines += ["", finish_text(data["client"])]
    return "\n".join(lines)


def _plan_text(data: dict[str, Any]) -> str:
    from secumail.cli.dns import setup_text

    return setup_text(data)


def finish_text(data: dict[str, Any]) -> str:
    lines = [f"Mailbox {data['address']} on {data['host']} (login: the full address).", "Servers:"]
    for server in data["servers"]:
        tls = "TLS" if server["tls"] == "tls" else "STARTTLS"
        lines.append(f"  {server['protocol'].upper():<5} {data['host']} port {server['port']} {tls}")
    lines.append(f"Phone profile (iOS/macOS): {data['profile_url']}")
    lines.append("(the QR code of that address is on the LuCI setup page's last step)")
    return "\n".join(lines)


# --- the guided run ---------------------------------------------------------------------------------


def run(ctx: Context, args: argparse.Namespace) -> Any:
    if args.status:
        return OPERATIONS["setup.status"].run(ctx, {})
    if args.reset:
        return OPERATIONS["setup.reset"].run(ctx, {})
    if args.answers:
        return _from_answers(ctx, args.answers)
    return _interactive(ctx)


def _from_answers(ctx: Context, path: str) -> Any:
    from secumail.appliance import answers as answers_mod
    from secumail.appliance import setup

    answers = _checked_answers(ctx, answers_mod.read(path), path)
    state = wizard.load(ctx.settings.layout.setup_state)
    recorded = {step: state["steps"].get(step, {}) for step in wizard.STEPS}

    def due(step: str, given: dict[str, Any]) -> bool:
        entry = recorded[step]
        return entry.get("status") != "done" or entry.get("answers", {}) != given

    runs: list[tuple[str, dict[str, Any], Callable[[], Any]]] = [
        ("identity", {"domain": answers.domain, "hostname": answers.hostname},
         lambda: setup.identity(ctx, answers.domain, answers.hostname)),
        ("dns", {"provider": answers.provider, **answers.dns_options},
         lambda: setup.dns_with(ctx, answers.provider, answers.dns_options, answers.credentials)),
        ("plan", {}, lambda: setup.plan(ctx)),
        ("records", {}, lambda: setup.records(ctx)),
        ("install", {}, lambda: setup.install(ctx)),
        ("certificate", answers.ssl_options, lambda: setup.certificate_with(ctx, answers.ssl_options)),
        ("mailbox", {"address": answers.address},
         lambda: setup.mailbox(ctx, answers.address, answers.password, answers.quota)),
        ("finish", {}, lambda: setup.finish(ctx, answers.address)),
    ]
    rerun = False
    result: Any = None
    for step, given, work in runs:
        if rerun or due(step, given):
            rerun = True  # a step after a re-run one runs again too: it used the old answers
            ctx.progress(f"step {wizard.STEPS.index(step) + 1}/{len(wizard.STEPS)}: {wizard.TITLES[step]}")
            result = work()
            ctx.reload()
    return _summary(ctx, result if isinstance(result, dict) and "profile_url" in result else None)


def _summary(ctx: Context, client: dict[str, Any] | None) -> dict[str, Any]:
    data = wizard.summary(wizard.load(ctx.settings.layout.setup_state))
    if client is not None:
        data["client"] = {key: value for key, value in client.items() if key != "qr_svg"}
    return data


def _checked_answers(ctx: Context, text: str, path: str) -> Any:
    """Every answer checked before anything runs: the file's own checks, the provider and its credential
    keys, and the UCI values all together on a scratch copy."""
    from secumail.appliance import answers as answers_mod
    from secumail.appliance import setup
    from secumail.config.settings import Acme, Dns
    from secumail.config.uci_paths import change
    from secumail.dns.providers.base import provider_class

    answers = answers_mod.parse(text, dns_options=tuple(Dns.options()), ssl_options=("type", *Acme.options()),
                                source=path)
    cls = provider_class(answers.provider)
    missing = [f"{key} ({label})" for key, label in cls.credential_keys.items() if not answers.credentials.get(key)]
    if missing:
        raise InputError(f"{path}: [dns] lacks, for provider {answers.provider}: {', '.join(missing)}")
    changes = [("mailserver.main.domain", answers.domain), ("mailserver.main.hostname", answers.hostname)]
    changes += setup.dns_changes(answers.provider, answers.dns_options)
    changes += setup.certificate_changes(answers.ssl_options)
    try:
        change(ctx.confdir, changes, dry_run=True)
    except InputError as exc:
        raise InputError(f"{path}: {str(exc).removesuffix('; nothing was saved')}") from None
    return answers


def _ask(prompt: str, default: str = "") -> str:
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    try:
        value = input(shown).strip()
    except EOFError:
        raise UsageError("no answer (end of input): use 'mailctl setup --answers FILE' in scripts") from None
    return value or default


def _interactive(ctx: Context) -> Any:
    from secumail.appliance import setup

    if not sys.stdin.isatty():
        raise UsageError("mailctl setup: no terminal to ask on: use --answers FILE (docs/setup.md)")
    state = wizard.load(ctx.settings.layout.setup_state)
    known = wizard.answers(state)
    step = wizard.next_step(state)
    result: Any = None
    while step is not None:
        sys.stderr.write(f"\n== step {wizard.STEPS.index(step) + 1}/{len(wizard.STEPS)}: {wizard.TITLES[step]}\n")
        if step == "identity":
            domain = _ask("Mail domain", known.get("domain", ""))
            result = setup.identity(ctx, domain, _ask("Host name of the server", known.get("hostname", "mail")))
        elif step == "dns":
            provider = _ask("DNS provider (rfc2136, cloudflare, hetzner, desec, ..., manual)",
                            known.get("provider", "manual"))
            options = {key: value for key in ("server", "zone")
                       if (value := _ask(f"DNS {key} (empty: default)", known.get(key, "")))}
            from secumail.appliance.answers import parse_credentials_line

            result = setup.dns_with(ctx, provider, options, parse_credentials_line(_ask_credentials(provider)))
            sys.stderr.write(f"credentials work: {result['checked']}\n")
        elif step == "plan":
            result = setup.plan(ctx)
            sys.stdout.write(_plan_text(result) + "\n")
            if _ask("Apply these changes? (yes/no)", "yes").lower() not in ("y", "yes"):
                return OPERATIONS["setup.status"].run(ctx, {})
        elif step == "records":
            result = setup.records(ctx)
        elif step == "install":
            result = setup.install(ctx)
        elif step == "certificate":
            result = setup.certificate_with(ctx, {})
        elif step == "mailbox":
            address = _ask("First mailbox address", known.get("address", f"you@{ctx.settings.main.domain}"))
            password = read_password(argparse.Namespace(password_stdin=False), f"Password of {address}")
            result = setup.mailbox(ctx, address, password, None)
            known["address"] = address
        else:
            return _summary(ctx, setup.finish(ctx, known.get("address")))
        ctx.reload()
        step = wizard.next_step(wizard.load(ctx.settings.layout.setup_state))
    return _summary(ctx, None)
