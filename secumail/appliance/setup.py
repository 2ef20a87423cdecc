"""The first-run setup's steps (docs/setup.md): each one an operation, recorded in the setup state.

A step runs only when the steps before it are done (wizard.blocked); it is recorded done, or
failed with its one-line reason, and the error is raised again so the caller shows that line.
Earlier steps stay done, so the next run resumes at the failed one.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import TYPE_CHECKING, Any, Callable

from secumail.appliance import wizard
from secumail.appliance.operations import Call, Reported
from secumail.errors import SecumailError

if TYPE_CHECKING:
    from secumail.config.settings import Settings


def _state_path(call: Call) -> str:
    return call.settings.layout.setup_state


def _run(call: Call, step: str, answers: dict[str, Any], work: Callable[[], Any]) -> Any:
    path = _state_path(call)
    state = wizard.load(path)
    reason = wizard.blocked(state, step)
    if reason:
        raise SecumailError(reason)
    call.progress(f"setup: {wizard.TITLES[step]}")
    try:
        data = work()
        if isinstance(data, Reported):
            raise SecumailError(data.message or _reported_line(step, data.data))
    except SecumailError as exc:
        wizard.save(path, wizard.record(wizard.load(path), step, error=str(exc), answers=answers))
        raise
    wizard.save(path, wizard.record(wizard.load(path), step, answers=answers))
    return data


def _reported_line(step: str, data: Any) -> str:
    conflicts = data.get("conflicts") if isinstance(data, dict) else None
    if conflicts:
        first = conflicts[0]
        return f"{len(conflicts)} DNS record(s) conflict, first {first['name']} {first['type']}: {first['reason']}"
    return f"setup step '{step}' reported problems"


def status(call: Call) -> dict[str, Any]:
    return wizard.summary(wizard.load(_state_path(call)))


def reset(call: Call) -> dict[str, Any]:
    """Forget the progress (not what the steps did): the wizard starts from the first step again."""
    path = _state_path(call)
    if os.path.exists(path):
        os.unlink(path)
    return wizard.summary(wizard.empty())


def identity(call: Call, domain: str, hostname: str) -> dict[str, Any]:
    from secumail.config.uci_paths import change

    def work() -> dict[str, Any]:
        change(call.confdir, [("mailserver.main.domain", domain), ("mailserver.main.hostname", hostname)])
        call.reload()
        return {"domain": domain, "hostname": hostname, "fqdn": call.settings.main.fqdn}

    return _run(call, "identity", {"domain": domain, "hostname": hostname}, work)


def dns_changes(provider: str, options: dict[str, str]) -> list[tuple[str, Any]]:
    """The UCI writes that choose `provider` with its `options` (mailserver.dns.<option>)."""
    return [("mailserver.dns.provider", provider), *((f"mailserver.dns.{key}", val) for key, val in options.items())]


def test_dns(call: Call, provider: str, options: dict[str, str],
             credentials: dict[str, str]) -> tuple[Settings, dict[str, Any]]:
    """The provider's credentials test with the settings it would have (nothing saved, nothing changed):
    those settings and the test's result."""
    from secumail.config import read_package
    from secumail.config.settings import settings_from_package
    from secumail.config.uci_paths import change
    from secumail.dns.providers.base import provider_class, require

    change(call.confdir, dns_changes(provider, options), dry_run=True)
    package = read_package(call.confdir)
    section = dict(package.get("dns") or {".type": "dns"})
    section.update({"provider": provider, **options})
    package["dns"] = section
    settings = settings_from_package(package)
    cls = provider_class(provider)
    require(credentials, cls.credential_keys, "the answers", provider)
    return settings, cls(settings.dns, credentials).check_credentials(settings.main.fqdn)


def dns(call: Call, provider: str, server: str | None, zone: str | None, credentials: str | None) -> dict[str, Any]:
    from secumail.appliance.answers import parse_credentials_line

    options = {key: value for key, value in (("server", server), ("zone", zone)) if value}
    return dns_with(call, provider, options, parse_credentials_line(credentials or ""))


def dns_with(call: Call, provider: str, options: dict[str, str], credentials: dict[str, str]) -> dict[str, Any]:
    """Test the credentials; only when they work, save them (0600) and the provider's settings."""
    from secumail.config.uci_paths import change
    from secumail.system.files import atomic_write

    def work() -> dict[str, Any]:
        settings, result = test_dns(call, provider, options, credentials)
        path = settings.dns.credentials  # where the answers say, else the default
        if credentials:
            if not path:
                raise SecumailError("set mailserver.dns.credentials (where the provider's secrets are kept)")
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            text = f"[{provider}]\n" + "".join(f"{key} = {value}\n" for key, value in credentials.items())
            atomic_write(path, text, mode=0o600)
        change(call.confdir, dns_changes(provider, options))
        call.reload()
        return result

    return _run(call, "dns", {"provider": provider, **options}, work)


def plan(call: Call) -> Any:
    from secumail.appliance.records import dns_setup

    return _run(call, "plan", {}, lambda: dns_setup(call, None, dry_run=True, force=False))


def records(call: Call) -> Any:
    from secumail.appliance.records import dns_setup

    return _run(call, "records", {}, lambda: dns_setup(call, None, dry_run=False, force=False))


def install(call: Call) -> Any:
    from secumail.appliance.server import install as install_server

    return _run(call, "install", {}, lambda: install_server(call))


SSL_ARGS = ("type", "directory", "ca_bundle", "email")


def certificate_changes(options: dict[str, str]) -> list[tuple[str, Any]]:
    """UCI writes for the certificate answers: `type` is mailserver.ssl.type, the rest mailserver.acme.*."""
    return [(f"mailserver.{'ssl' if key == 'type' else 'acme'}.{key}", value) for key, value in options.items()]


def certificate(call: Call, type: str | None, directory: str | None, ca_bundle: str | None,
                email: str | None) -> Any:
    given = {key: value for key, value in zip(SSL_ARGS, (type, directory, ca_bundle, email)) if value}
    return certificate_with(call, given)


def certificate_with(call: Call, options: dict[str, str]) -> Any:
    from secumail.appliance.certificates import ssl_setup
    from secumail.config.uci_paths import change

    def work() -> Any:
        if options:
            change(call.confdir, certificate_changes(options))
            call.reload()
        return ssl_setup(call, force=False, staging=False, no_reload=False)

    return _run(call, "certificate", options, work)


def mailbox(call: Call, address: str, password: str, quota: str | None) -> Any:
    from secumail.appliance import accounts
    from secumail.errors import InputError

    def work() -> Any:
        domain = address.rpartition("@")[2]
        if domain != call.settings.main.domain:
            raise InputError(f"{address} is not in the domain {call.settings.main.domain}")
        if domain not in {row["domain"] for row in accounts.domain_list(call)}:
            accounts.domain_add(call, domain)
        known = {row.get("address") for row in accounts.user_list(call)}
        if address in known:
            return accounts.user_passwd(call, address, password)
        return accounts.user_add(call, address, password, quota)

    return _run(call, "mailbox", {"address": address}, work)


def finish(call: Call, address: str | None) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        return client_page(call, address or wizard.answers(wizard.load(_state_path(call))).get("address", ""))

    return _run(call, "finish", {}, work)


def client_page(call: Call, address: str) -> dict[str, Any]:
    """The client settings, the phone profile's download address (an unguessable name below the
    autoconfig site) and its QR code as SVG."""
    from secumail.errors import InputError
    from secumail.mail import clientconfig
    from secumail.system.files import atomic_write
    from secumail.system.qrcode import svg

    settings = call.settings
    if not address:
        raise InputError("no mailbox address: run the mailbox step first")
    domain = address.rpartition("@")[2]
    folder = os.path.join(settings.layout.autoconfig(domain), clientconfig.PROFILE_DIR)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):  # one live link per domain: an old one stops working
        if old.endswith(".mobileconfig"):
            os.unlink(os.path.join(folder, old))
    name = f"{secrets.token_urlsafe(24)}.mobileconfig"  # 32 characters of [A-Za-z0-9_-]
    atomic_write(os.path.join(folder, name), clientconfig.apple_profile(settings, address), mode=0o644)
    url = f"https://autoconfig.{domain}/{clientconfig.PROFILE_DIR}/{name}"
    return {
        "address": address,
        "login": address,
        "host": settings.main.fqdn,
        "servers": [{"protocol": s.protocol, "port": s.port, "tls": s.tls} for s in clientconfig.servers(settings)],
        "profile_url": url,
        "qr_svg": svg(url, level="M"),
        "made": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
