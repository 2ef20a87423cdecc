"""A real mail container (Postfix + Dovecot + OpenDKIM) configured by secumail.mail, once per session.

data_path is a host directory whose mail-service parts are bind-mounted as
`mailctl install` mounts them (spec.data_mounts, owned by the container's
mapped ids); accounts are made with the same functions mailctl uses, the
config goes live through deploy (checked inside the container), which also
starts the services.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from secumail.appliance import datadir, ownership, spec
from secumail.mail import firewall
from tests.integration.lxcworld import lxc_world
from tests.integration.mail.world import BRIDGE, DATA, NAME, PASSWORDS, MailWorld
from tests.support.settings import mail_settings as make_settings


@pytest.fixture(scope="session")
def mailworld() -> Iterator[MailWorld]:
    from secumail.mail import accounts, deploy
    from secumail.mail.selfsigned import ensure_selfsigned

    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    os.makedirs(DATA)
    # Postfix/Dovecot behaviour only: the spam filter, postscreen and the light path's SPF/DMARC checks
    # have their own world (tests/integration/protection), where a Knot answers their DNS questions;
    # here no DNS answers for the senders' test domains.
    settings = make_settings(DATA, hostname="mail", container=NAME, features={"spam_filter": "0"},
                             protection={"dnsbl": (), "sender_checks": "0"})
    datadir.ensure_layout(settings)
    with lxc_world(name=NAME, bridge=BRIDGE, subnet="10.232.0", memory_mb=256,
                   mounts=spec.data_mounts(DATA), masks=spec.data_masks(),
                   lxcpath=settings.container.lxc_path,
                   before_start=lambda world: ownership.shift_data(settings, world.spec.idmap)) as lxc:
        firewall.ensure_input_policy(BRIDGE)  # what `mailctl start` does for the bridge (no fw4 here)
        ensure_selfsigned(DATA, settings.main.fqdn)
        accounts.domain_add(settings, "example.net")
        for address, password in PASSWORDS.items():
            accounts.user_add(settings, address, password, quota="1M" if address.startswith("tiny@") else None)
        accounts.alias_add(settings, "info@example.org", ["alice@example.org", "someone@outside.test"])
        accounts.alias_add(settings, "@example.org", ["bob@example.org"])
        deploy.deploy(settings, lxc.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
        lxc.wait_port(25, timeout=20)
        lxc.wait_port(143, timeout=20)  # 993 would wait for our TLS hello: no banner to read
        try:
            yield MailWorld(lxc, settings)
        finally:
            firewall.remove_input_policy(BRIDGE)
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
