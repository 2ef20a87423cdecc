"""The webmail container (Roundcube, php-fpm, lighttpd): its memory, idle and in use.

A real mail container (tests/integration/lxcworld.py) configured by secumail.mail with one mailbox, and
the webmail container beside it as `mailctl webmail install` makes it. PSS and RSS of every process of
the webmail container, read on the host from smaps_rollup (bench/mail_container.memory):
- just started (one request answered: the install's check of the login page);
- after a login through Roundcube (php-fpm workers up);
- idle again, after php-fpm's idle timeout (its workers ended, the pool is on demand).
Needs root.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

from bench.mail_container import memory  # noqa: E402
from bench.results import update_section  # noqa: E402
from secumail.appliance import datadir, ownership, spec  # noqa: E402
from secumail.appliance import webmail as appliance_webmail  # noqa: E402
from secumail.mail import accounts, deploy  # noqa: E402
from secumail.mail.selfsigned import ensure_selfsigned  # noqa: E402
from tests.integration.lxcworld import cache_dir, lxc_world  # noqa: E402
from tests.support.settings import mail_settings as make_settings  # noqa: E402

DATA = "/var/tmp/secumail-webmail-bench/data"
USER, PASSWORD = "alice@example.org", "alice-secret"
SUBNET, BRIDGE = "10.236.0", "smwmb0"
IDLE_S = 65  # php-fpm's pm.process_idle_timeout (60 s) and a margin


def main() -> None:
    os.environ.setdefault("SECUMAIL_IMAGE_CACHE", cache_dir())
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    os.makedirs(DATA)
    base = make_settings(DATA, hostname="mail", container="smwmbm", features={"spam_filter": "0"},
                         protection={"dnsbl": (), "sender_checks": "0"})
    settings = dataclasses.replace(
        base,
        container=dataclasses.replace(base.container, bridge=BRIDGE,
                                      host_address=ipaddress.IPv4Interface(f"{SUBNET}.1/24"),
                                      address=ipaddress.IPv4Interface(f"{SUBNET}.2/24")),
        webmail=dataclasses.replace(base.webmail, enabled=True, container="smwmbw"),
    )  # fmt: skip
    datadir.ensure_layout(settings)
    rows = []
    with lxc_world(name="smwmbm", bridge=BRIDGE, subnet=SUBNET, memory_mb=256,
                   mounts=spec.data_mounts(DATA), masks=spec.data_masks(), lxcpath=settings.container.lxc_path,
                   before_start=lambda w: ownership.shift_data(settings, w.spec.idmap)) as world:  # fmt: skip
        ensure_selfsigned(DATA, settings.main.fqdn)
        runtime = ownership.ContainerRuntime(settings)
        deploy.deploy(settings, world.container, hand_over=runtime.hand_over)
        accounts.user_add(settings, USER, PASSWORD, runtime=runtime)
        world.wait_port(25, timeout=20)
        appliance_webmail.remove(settings, purge=True)
        try:
            appliance_webmail.install(settings)
            container = appliance_webmail.container_for(settings)
            time.sleep(3)
            rows.append(("just started (login page served once)", *memory(container)))
            ok, detail = appliance_webmail.test_login(settings, USER, PASSWORD)
            assert ok, detail
            time.sleep(2)
            rows.append(("after a login (php-fpm workers up)", *memory(container)))
            rows.append(("  of which php-fpm", *memory(container, only="php-fpm")))
            rows.append(("  of which lighttpd", *memory(container, only="lighttpd")))
            time.sleep(IDLE_S)
            rows.append((f"idle, {IDLE_S} s later (workers ended)", *memory(container)))
        finally:
            appliance_webmail.remove(settings, purge=True)
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    lines = ["| webmail container | RSS | PSS |", "| --- | --- | --- |"]
    lines += [f"| {what} | {rss:.1f} MiB | {pss:.1f} MiB |" for what, rss, pss in rows]
    body = "\n".join(lines)
    print(body)
    update_section("webmail", "Webmail (Roundcube container): memory",
                   body + "\n\n`bench/webmail_memory.py` (root, LXC).")


if __name__ == "__main__":
    main()
