"""What `mailctl status` reports. Cheap by design: it is polled by LuCI.

It reads config and asks the container runtime for the state; it imports no
heavy library, so `mailctl --json status` stays well under 150 ms.
"""

from __future__ import annotations

import os
from typing import Any

from secumail.config.settings import Settings


def container_info(settings: Settings) -> tuple[str, int | None]:
    """('RUNNING' | 'STOPPED' | … | 'not installed', init pid) from one runtime call
    (no process at all with the python3-lxc backend)."""
    from secumail.container.runtime import Container
    from secumail.errors import ContainerError

    container = Container(settings.main.container, settings.container.lxc_path)
    if not container.exists():
        return "not installed", None
    try:
        return container.info()
    except ContainerError as exc:
        return f"unknown ({exc})", None


def container_state(settings: Settings) -> str:
    return container_info(settings)[0]


def _port_up(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _socket_up(path: str) -> bool:
    """A milter answers on its Unix socket (a file left by a daemon that died does not count)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(path)
            return True
    except OSError:
        return False


def _cgroup(pid: int, controller: str) -> tuple[str, bool] | None:
    """(directory in /sys/fs/cgroup, v2?) of the cgroup of `pid` that holds `controller` (v1 or v2)."""
    try:
        with open(f"/proc/{pid}/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    unified = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return f"/sys/fs/cgroup/{controller}{path}", False
        if controllers == "":
            unified = f"/sys/fs/cgroup{path}"
    return (unified, True) if unified else None


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def _memory(pid: int) -> dict[str, int] | None:
    """Used and limit bytes of the container's memory cgroup (v1 or v2), read from /sys."""
    found = _cgroup(pid, "memory")
    if found is None:
        return None
    base, v2 = found
    names = ("memory.current", "memory.max") if v2 else ("memory.usage_in_bytes", "memory.limit_in_bytes")
    values = []
    for name in names:
        text = _read(os.path.join(base, name))
        if text is None:
            return None
        values.append(int(text.strip()) if text.strip().isdigit() else 0)
    return {"used": values[0], "limit": values[1]}


def cpu_seconds(pid: int) -> float | None:
    """CPU time the container's cgroup used since it started (v2 cpu.stat, v1 cpuacct.usage)."""
    found = _cgroup(pid, "cpuacct")
    if found is None:
        return None
    base, v2 = found
    if v2:
        for line in (_read(os.path.join(base, "cpu.stat")) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isdigit():
                return int(value) / 1e6
        return None
    text = (_read(os.path.join(base, "cpuacct.usage")) or "").strip()
    return int(text) / 1e9 if text.isdigit() else None


def queue_size(spool: str) -> int:
    """Messages in Postfix's queues, counted on the host side (no exec needed)."""
    total = 0
    for queue in ("incoming", "active", "deferred", "hold", "maildrop"):
        for _dir, _subdirs, files in os.walk(os.path.join(spool, queue)):
            total += len(files)
    return total


def _dav(settings: Settings, services: dict[str, bool]) -> dict[str, Any]:
    """Calendars and contacts (features.dav): on or off, its port, whether it answers (None: the container is
    not running), and how many mailboxes keep collections (Radicale's folder per user in data_path/dav)."""
    root = os.path.join(settings.layout.dav, "collections", "collection-root")
    try:
        users = sum(1 for entry in os.scandir(root) if entry.is_dir())
    except OSError:
        users = 0
    return {"enabled": settings.features.dav, "port": settings.ports.dav, "answering": services.get("dav"),
            "users": users}


def _certificate(settings: Settings) -> dict[str, Any]:
    # files only (fullchain.pem + the renewal job's state.json): no cryptography, no ACME stack
    from secumail.certs.brief import certificate_brief

    return certificate_brief(settings.main.data_path)


def _dkim(settings: Settings) -> dict[str, Any]:
    from secumail.mail.dkim import key_path

    domain = settings.main.domain
    present = os.path.exists(key_path(settings.main.data_path, domain, settings.dkim.selector))
    return {"enabled": settings.features.dkim, "selector": settings.dkim.selector, "key_present": present}


def _virus_scan(settings: Settings, spool: str | None) -> tuple[str, str]:
    """The state of virus scanning and why: off, refused (the host's memory is below ClamAV's need),
    down (no signatures yet, or clamd/clamav-milter not running), on."""
    from secumail.config.settings import virus_scan_refusal
    from secumail.mail import virus

    if not settings.features.virus_scan:
        return "off", "features.virus_scan 0"
    refusal = virus_scan_refusal(settings)
    if refusal:
        return "refused", refusal
    try:
        names = os.listdir(settings.layout.clamav)
    except OSError:
        names = []
    if not virus.has_signatures(names):
        return "down", (f"no ClamAV signatures in {settings.layout.clamav} yet: freshclam fetches them when "
                        "the Internet answers, or copy them there (docs/protection.md); mail arrives unscanned")
    if spool is not None and not os.path.exists(os.path.join(spool, "clamav/clamav-milter.ctl")):
        return "down", "clamav-milter's socket is missing: mail arrives unscanned (see 'mailctl logs')"
    return "on", (f"ClamAV on every SMTP port: mail carrying a virus is refused (5xx); "
                  f"{settings.container.memory} MiB container limit")


def _protection(settings: Settings, spool: str | None) -> list[dict[str, str]]:
    """Each protection feature with its state (on, off, refused, down) and why; `spool` is Postfix's
    queue dir on the host when the container runs (the milter sockets are there), else None."""
    from secumail.mail import lightpath
    from secumail.mail.render import postscreen_on

    p, f = settings.protection, settings.features
    out: list[dict[str, str]] = []

    def add(name: str, state: str, why: str) -> None:
        out.append({"name": name, "state": state, "why": why})

    if not f.spam_filter:
        add("spam filter", "off", "features.spam_filter 0")
    elif spool is not None and not os.path.exists(os.path.join(spool, "rspamd/milter.sock")):
        add("spam filter", "down", "Rspamd's milter socket is missing: mail arrives unfiltered (see 'mailctl logs')")
    else:
        add("spam filter", "on", f"Rspamd on port 25: Junk from score {p.junk_score:g}, refused from "
                                 f"{p.reject_score:g}, learning {p.learn}")  # fmt: skip
    if f.spam_filter and p.greylisting:
        add("greylisting", "on", "Rspamd temp-fails doubtful mail once")
    else:
        add("greylisting", "off", "protection.greylisting 0" if f.spam_filter else "needs the spam filter")
    if lightpath.on(settings):
        if spool is not None and not _socket_up(os.path.join(spool, "opendmarc/opendmarc.sock")):
            add("sender checks", "down", "OpenDMARC's milter socket is missing: no DMARC reject "
                                         "(see 'mailctl logs'); SPF is still checked")  # fmt: skip
        else:
            add("sender checks", "on", "port 25: SPF fail and DMARC p=reject refused, unknown sender "
                                       "domains temp-failed")  # fmt: skip
    elif f.spam_filter:
        add("sender checks", "off", "Rspamd checks SPF, DKIM and DMARC instead")
    else:
        add("sender checks", "off", "protection.sender_checks 0" if settings.ports.smtp else "port 25 is off")
    if postscreen_on(settings):
        add("DNS blocklists", "on", f"postscreen asks {len(p.dnsbl)} list(s), refuses at weight {p.dnsbl_threshold}")
    else:
        add("DNS blocklists", "off", "protection.dnsbl is empty" if settings.ports.smtp else "port 25 is off")
    add("virus scan", *_virus_scan(settings, spool))
    limits = (("connections per client", p.smtp_connection_rate, "/min on port 25", "smtp_connection_rate"),
              ("messages per client", p.smtp_message_rate, "/min on port 25", "smtp_message_rate"),
              ("recipients per user", p.user_recipients_per_hour, "/hour on submission",
               "user_recipients_per_hour"))  # fmt: skip
    for name, value, unit, option in limits:
        add(name, "on" if value else "off", f"{value}{unit}" if value else f"protection.{option} 0")
    return out


def _delivery(settings: Settings) -> dict[str, Any]:
    """Outbound port 25 as the last dns-check found it, and each relay with its last login test
    (recorded files only: status never probes)."""
    from secumail.mail import outbound

    delivery = outbound.delivery_status(settings)
    return {**delivery, "notes": outbound.delivery_notes(settings, delivery)}


def _web(settings: Settings, host: str | None) -> dict[str, Any]:
    """What the container's web server serves on 443 and whether it answers there. `host` is the
    container's address when it runs (then 443 is probed), else None."""
    from secumail.mail import webserve

    enabled = webserve.enabled(settings)
    return {
        "serves": sorted({site.host.split(".", 1)[0] for site in webserve.sites(settings, settings.main.domain)}),
        "answering": _port_up(host, webserve.HTTPS_PORT) if host and enabled else None,
    }


def _mta_sts(settings: Settings, web: dict[str, Any]) -> dict[str, Any]:
    """Our policy mode and whether the web server serving it answers; the outbound checks (MTA-STS, DANE)."""
    return {
        "mode": settings.dns.mta_sts,
        "served": web["answering"] if "mta-sts" in web["serves"] else None,
        "outbound": settings.features.mta_sts_outbound,
        "dane": settings.features.dane,
    }


def collect_status(settings: Settings) -> dict[str, Any]:
    main = settings.main
    state, pid = container_info(settings)
    notes = []
    services: dict[str, bool] = {}
    memory = None
    cpu = None
    queue = None
    spool_seen = None
    host = None
    if state == "not installed":
        notes.append("the container is not installed: run 'mailctl install'")
    elif state == "RUNNING":
        host = "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)
        services = {name: _port_up(host, port) for name, port in settings.open_ports().items()}
        spool = os.path.join(main.data_path, "spool")  # Postfix's queue dir (bind-mounted on /var/spool/postfix)
        if settings.features.dkim:
            services["opendkim"] = _socket_up(os.path.join(spool, "opendkim/opendkim.sock"))
        if settings.features.spam_filter:
            services["rspamd"] = _socket_up(os.path.join(spool, "rspamd/milter.sock"))
        memory = _memory(pid) if pid else None
        cpu = cpu_seconds(pid) if pid else None
        queue = queue_size(spool)
        spool_seen = spool
        down = [name for name, up in services.items() if not up]
        if down:
            notes.append(f"not answering: {', '.join(down)} (see 'mailctl logs')")
    if main.enabled and state not in ("RUNNING", "not installed"):
        notes.append(f"enabled but the container is {state}: run 'mailctl start'")
    delivery = _delivery(settings)
    notes.extend(delivery.pop("notes"))
    web = _web(settings, host)
    return {
        "config": {
            "enabled": main.enabled,
            "domain": main.domain,
            "hostname": main.hostname,
            "fqdn": main.fqdn,
            "data_path": main.data_path,
        },
        "container": {"name": main.container, "state": state, "memory": memory, "cpu_seconds": cpu},
        "services": services,
        "queue": queue,
        "ports": settings.open_ports(),
        "certificate": _certificate(settings),
        "dkim": _dkim(settings),
        "mesh": {"enabled": settings.mesh.enabled, "peers": len(settings.pinned_peers)},
        "dav": _dav(settings, services),
        "protection": _protection(settings, spool_seen),
        "delivery": delivery,
        "web": web,
        "mta_sts": _mta_sts(settings, web),
        "notes": notes,
    }
