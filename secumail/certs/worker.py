"""`python -m secumail.certs.worker`: obtain one certificate, install it, exit.

Runs apart from the resident agent so that acme, josepy, requests and
cryptography are never loaded there. Protocol: a pickled request
{"settings": Settings, "debug": bool} on stdin (from our own parent, never
from the network); one JSON line on stdout: {"ok": true, ...} or
{"ok": false, "error": "<one line>"}; log lines on stderr (never key material).
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secumail.config.settings import Settings

logger = logging.getLogger("secumail.certs.worker")


def _start_servers(settings: Settings) -> tuple[list, int]:
    """Where the zone search starts, and the port of its authoritative servers.

    mailserver.dns.server when it is a DNS server address (its port is then the
    authoritative servers' port too), else mailserver.dns.resolver, else /etc/resolv.conf.
    """
    from secumail.certs.propagation import resolv_conf_servers
    from secumail.config.validate import split_server

    if settings.dns.server:
        try:
            host, port = split_server(settings.dns.server, default_port=0)
        except ValueError:
            pass  # an API URL, not a DNS server
        else:
            return [(host, port or 53)], port or 53
    if settings.dns.resolver:
        return [split_server(spec) for spec in settings.dns.resolver], 53
    return resolv_conf_servers(), 53


def propagation_checker(settings: Settings):
    """Wait for the TXT values on the zone's authoritative servers (bounded by dns.timeout × 12)."""
    from secumail.certs.propagation import authoritative_servers, find_zone, wait_for_txt

    def check(records: list[tuple[str, str]]) -> float:
        start, port = _start_servers(settings)
        timeout = float(getattr(settings.dns, "timeout", 10))
        servers: list = []
        for name, _ in records:
            zone = find_zone(name, start, timeout=min(timeout, 3.0))
            for server in authoritative_servers(zone, start, port=port, timeout=min(timeout, 3.0)):
                if server not in servers:
                    servers.append(server)
        took = wait_for_txt(records, servers, timeout=timeout * 12)
        logger.info("challenge TXT visible on %s after %.3f s", ", ".join(s[0] for s in servers), took)
        return took

    return check


def obtain(settings: Settings) -> dict[str, Any]:
    from secumail.certs import keys
    from secumail.certs.paths import cert_names, cert_paths

    paths = cert_paths(settings)
    kind = settings.ssl.type
    ari_url = None
    timings: dict[str, float] = {}
    start = time.monotonic()
    if kind == "selfsigned":
        from secumail.certs.sources import selfsigned

        fullchain, key_pem = selfsigned(settings)
    elif kind == "openwrt-acme":
        from secumail.certs.sources import openwrt_pickup

        fullchain, key_pem = openwrt_pickup(settings)
    else:
        from secumail.certs.acme_flow import issue
        from secumail.certs.challenge import dns_challenge_provider

        issued = issue(settings, paths, dns_challenge_provider, propagation_checker(settings))
        fullchain, key_pem, ari_url, timings = (
            issued.fullchain,
            issued.key_pem,
            issued.ari_url,
            issued.timings,
        )
    leaf = keys.check_pair(fullchain, key_pem)
    keys.install_pair(paths.ssl_dir, fullchain, key_pem)
    timings["installed"] = time.monotonic() - start
    return {
        "ok": True,
        "source": kind,
        "names": cert_names(settings),
        "serial": leaf.serial_number,
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "ari_url": ari_url,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }


def main() -> int:
    from secumail.errors import SecumailError

    request = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent process
    debug = bool(request.get("debug"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s"
    )
    for noisy in ("urllib3", "acme", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # their debug logs carry JWS bodies
    try:
        result = obtain(request["settings"])
    except SecumailError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the parent prints one line, never a traceback
        if debug:
            logger.exception("worker failed")
        result = {"ok": False, "error": f"certificate worker failed: {type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
