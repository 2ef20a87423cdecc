"""What `mailctl status` reports. Cheap by design: it is polled by LuCI.

It reads config and asks the container runtime for the state; it imports no
heavy library, so `mailctl --json status` stays well under 150 ms.
"""

from __future__ import annotations

import os
from typing import Any

from secumail.config.settings import Settings


def container_state(settings: Settings) -> str:
    """'RUNNING', 'STOPPED', … as lxc-info says, or 'not installed'."""
    from secumail.system.proc import run, which

    lxc_path = settings.container.lxc_path
    name = settings.main.container
    if not os.path.exists(os.path.join(lxc_path, name, "config")):
        return "not installed"
    if which("lxc-info") is None:
        return "unknown (lxc-info missing)"
    result = run(["lxc-info", "-P", lxc_path, "-n", name, "-s", "-H"], check=False, timeout=10)
    return result.stdout.strip() or "unknown"


def collect_status(settings: Settings) -> dict[str, Any]:
    main = settings.main
    ssl_dir = os.path.join(main.data_path, "ssl")
    has_cert = os.path.exists(os.path.join(ssl_dir, "fullchain.pem"))
    state = container_state(settings)
    notes = []
    if state == "not installed":
        notes.append("the container is not installed: run 'mailctl install'")
    return {
        "config": {
            "enabled": main.enabled,
            "domain": main.domain,
            "hostname": main.hostname,
            "fqdn": main.fqdn,
            "data_path": main.data_path,
        },
        "container": {"name": main.container, "state": state},
        "services": {},
        "ports": settings.ports.enabled(),
        "certificate": {
            "present": has_cert,
            "summary": f"{ssl_dir}/fullchain.pem" if has_cert else "none (run 'mailctl ssl-setup')",
        },
        "dkim": {"enabled": settings.features.dkim, "selector": settings.dkim.selector},
        "mesh": {"enabled": settings.mesh.enabled, "peers": len(settings.peers)},
        "notes": notes,
    }


def status_from_daemon(config_dir: str | None = None) -> dict[str, Any] | None:
    """The same JSON from a running secumaild (fast, no lxc-info of our own), None when none answers.

    The daemon answers only for the config directory it reads; any error
    (not running, not root, other confdir, invalid config) means: compute it here.
    """
    from secumail.config import confdir
    from secumail.daemon.paths import socket_path
    from secumail.errors import SecumailError

    if not os.path.exists(socket_path()):
        return None
    from secumail.daemon.client import call

    try:
        reply = call("status", {"confdir": confdir(config_dir)}, timeout=10)
    except SecumailError:
        return None
    return reply if isinstance(reply, dict) else None
