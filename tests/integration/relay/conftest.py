"""The relay world: the appliance's mail container (smrly, 10.243.0.2) and an ISP smarthost (smrlyisp,
10.243.0.3) on one bridge (smrly0, the host is 10.243.0.1). The appliance is configured from a UCI
file of its own, as `mailctl` on a router is, so the tests run the real `mailctl relay` commands."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from secumail.appliance import datadir, ownership, spec
from tests.integration.lxcworld import lxc_world
from tests.support import smarthost

ROOT = "/var/tmp/secumail-relay-test"
DATA, CONF, SAVE = f"{ROOT}/data", f"{ROOT}/uci", f"{ROOT}/uci-save"
NAME, ISP_NAME, BRIDGE, SUBNET = "smrly", "smrlyisp", "smrly0", "10.243.0"
USERS = {"alice@example.org": "alice-relay-secret", "carol@example.net": "carol-relay-secret"}


@dataclass
class RelayWorld:
    appliance: object  # LxcWorld of the mail container
    isp: object  # LxcWorld of the smarthost
    settings: object
    env: dict

    @property
    def isp_ip(self) -> str:
        return self.isp.ip


def _uci() -> str:
    return (f"\nconfig mailserver 'main'\n\toption domain 'example.org'\n\toption hostname 'mail'\n"
            f"\toption data_path '{DATA}'\n\toption container '{NAME}'\n"
            f"\nconfig dkim 'dkim'\n\toption key_bits '1024'\n"
            # the relay is what is tested here: no Rspamd, so the container fits 256 MiB
            f"\nconfig features 'features'\n\toption spam_filter '0'\n"
            f"\nconfig container 'container'\n\toption lxc_path '{ROOT}/lxc'\n")


@pytest.fixture(scope="module")
def relayworld() -> Iterator[RelayWorld]:
    from secumail.appliance.operations import Call
    from secumail.mail import accounts, deploy
    from secumail.mail.selfsigned import ensure_selfsigned

    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(CONF)
    os.makedirs(DATA)
    with open(os.path.join(CONF, "mailserver"), "w") as handle:
        handle.write(_uci())
    env = {**os.environ, "SECUMAIL_CONFDIR": CONF, "SECUMAIL_SAVEDIR": SAVE}
    saved = os.environ.get("SECUMAIL_SAVEDIR")
    os.environ["SECUMAIL_SAVEDIR"] = SAVE  # never the machine's pending UCI changes
    try:
        settings = Call(CONF).settings
    finally:
        if saved is None:
            del os.environ["SECUMAIL_SAVEDIR"]
        else:
            os.environ["SECUMAIL_SAVEDIR"] = saved
    datadir.ensure_layout(settings)
    try:
        with (
            lxc_world(name=NAME, bridge=BRIDGE, subnet=SUBNET, memory_mb=256, mounts=spec.data_mounts(DATA),
                      masks=spec.data_masks(), lxcpath=settings.container.lxc_path,
                      before_start=lambda world: ownership.shift_data(settings, world.spec.idmap)) as appliance,
            lxc_world(name=ISP_NAME, bridge=BRIDGE, subnet=SUBNET, memory_mb=192, host_octet=3) as isp,
        ):
            smarthost.configure(isp.container)
            ensure_selfsigned(DATA, settings.main.fqdn)
            accounts.domain_add(settings, "example.net")
            for address, password in USERS.items():
                accounts.user_add(settings, address, password)
            deploy.deploy(settings, appliance.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
            appliance.wait_port(587, timeout=20)
            isp.wait_port(587, timeout=20)
            yield RelayWorld(appliance, isp, settings, env)
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
