"""A certificate site with a REAL mail container: the session's Knot and pebble, our LXC container `smcert`
on bridge smcert0 (10.235.0.0/24) running Postfix + Dovecot configured by secumail.mail.deploy, data_path's
mail-service parts mounted as `mailctl install` mounts them (the `mailsite` fixture of conftest.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from tests.integration.certs.site import Site

NAME, BRIDGE, SUBNET = "smcert", "smcert0", "10.235.0"
WORK = "/var/tmp/secumail-certs-mail-test"
FQDN = "mail.example.test"


@contextlib.contextmanager
def mail_site(servers: dict) -> Iterator[Site]:
    from secumail.appliance import datadir, ownership, spec
    from secumail.appliance.image import install_hooks
    from secumail.mail import deploy
    from secumail.mail.selfsigned import ensure_selfsigned
    from tests.integration.lxcworld import WORK_ROOT, lxc_world

    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    site = Site(
        WORK,
        servers,
        main={"container": NAME},
        container={
            "lxc_path": f"{WORK_ROOT}/{NAME}/lxc",  # where lxc_world defines the container
            "bridge": BRIDGE,
            "host_address": f"{SUBNET}.1/24",
            "address": f"{SUBNET}.2/24",
        },
    )
    os.makedirs(site.data)
    settings = site.settings
    datadir.ensure_layout(settings)  # what `mailctl install` starts with (a self-signed certificate)
    try:
        with lxc_world(name=NAME, bridge=BRIDGE, subnet=SUBNET, memory_mb=settings.container.memory,
                       mounts=spec.data_mounts(site.data), masks=spec.data_masks(),
                       before_start=lambda world: ownership.shift_data(settings, world.spec.idmap)) as lxc:
            ensure_selfsigned(site.data, settings.main.fqdn)
            install_hooks(lxc.rootfs)  # as install does: the container's init starts the live config
            deploy.deploy(settings, lxc.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
            lxc.wait_port(25, timeout=20)
            lxc.wait_port(143, timeout=20)
            site.lxc = lxc
            yield site
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
