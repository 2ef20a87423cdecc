"""The import world: the appliance's mail container (smimp, 10.229.0.2) and an old provider's plain Dovecot
(smimpold, 10.229.0.3, tests/support/oldimap.py) on one bridge (smimp0, the host is 10.229.0.1).

The appliance is configured from a UCI file of its own (main.enabled 1, so the secumaild the sync test
starts keeps the container as it is), and the tests run the real `mailctl import` commands against it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from secumail.appliance import datadir, ownership, spec
from tests.integration.daemon.secumaild import Daemon
from tests.integration.lxcworld import lxc_world
from tests.support import oldimap
from tests.support.wait import wait_port

ROOT = "/var/tmp/secumail-import-test"
NAME, OLD, BRIDGE, SUBNET = "smimp", "smimpold", "smimp0", "10.229.0"
USER, USER_PASSWORD = "alice@example.org", "alice-import-secret"


@dataclass
class ImportWorld:
    appliance: object  # LxcWorld of the mail container
    old: object  # LxcWorld of the old provider's Dovecot
    settings: object
    agent: Daemon  # secumaild's paths and environment; started by the sync test only
    cafile: str  # the old server's self-signed certificate, to pin

    @property
    def old_ip(self) -> str:
        return self.old.ip

    @property
    def url(self) -> str:
        return f"imaps://{oldimap.LOGIN}@{self.old.ip}"


def _uci(data: str, lxc_path: str) -> str:
    return (f"\nconfig mailserver 'main'\n\toption enabled '1'\n\toption domain 'example.org'\n"
            f"\toption hostname 'mail'\n\toption data_path '{data}'\n\toption container '{NAME}'\n"
            f"\nconfig dkim 'dkim'\n\toption key_bits '1024'\n"
            f"\nconfig ssl 'ssl'\n\toption type 'selfsigned'\n"
            # the import is what is tested here: no Rspamd (the container fits 256 MiB), no bans
            f"\nconfig features 'features'\n\toption spam_filter '0'\n\toption fail2ban '0'\n"
            f"\nconfig container 'container'\n\toption lxc_path '{lxc_path}'\n")  # fmt: skip


@pytest.fixture(scope="module")
def importworld() -> Iterator[ImportWorld]:
    from secumail.config import load_settings
    from secumail.mail import accounts, deploy
    from secumail.mail.selfsigned import ensure_selfsigned

    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    agent = Daemon(ROOT, {"SECUMAIL_TIME_SCALE": "20"})
    os.makedirs(agent.confdir)
    with open(os.path.join(agent.confdir, "mailserver"), "w") as handle:
        handle.write(_uci(agent.data_path, agent.lxc_path))
    os.makedirs(agent.data_path)
    settings = load_settings(agent.confdir, agent.env["SECUMAIL_SAVEDIR"])  # never the machine's pending changes
    datadir.ensure_layout(settings)
    try:
        with (
            lxc_world(name=NAME, bridge=BRIDGE, subnet=SUBNET, memory_mb=256, mounts=spec.data_mounts(agent.data_path),
                      masks=spec.data_masks(), lxcpath=settings.container.lxc_path,
                      before_start=lambda world: ownership.shift_data(settings, world.spec.idmap)) as appliance,
            lxc_world(name=OLD, bridge=BRIDGE, subnet=SUBNET, memory_mb=192, host_octet=3) as old,
        ):  # fmt: skip
            cafile = os.path.join(ROOT, "old-cert.pem")
            with open(cafile, "w") as handle:
                handle.write(oldimap.configure(old.container, old.ip))
            ensure_selfsigned(agent.data_path, settings.main.fqdn)
            accounts.user_add(settings, USER, USER_PASSWORD)
            deploy.deploy(settings, appliance.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
            wait_port(appliance.ip, 993)
            wait_port(old.ip, 993)
            try:
                yield ImportWorld(appliance, old, settings, agent, cafile)
            finally:
                agent.stop()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
