"""The webmail world: the mail tests' session container (tests/integration/mail) and, beside it on
its bridge, the webmail container as `mailctl webmail install` makes it."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Iterator

import pytest

from tests.integration.lxcworld import cache_dir
from tests.integration.mail.conftest import mailworld  # noqa: F401 (the session's mail container)
from tests.integration.mail.world import BRIDGE, MailWorld

WEBMAIL = "smwebmail"


def webmail_settings(world: MailWorld):
    """The mail world's settings with its real bridge and addresses, and the webmail section on."""
    s = world.settings
    subnet = world.ip.rsplit(".", 1)[0]
    container = dataclasses.replace(s.container, bridge=BRIDGE,
                                    host_address=ipaddress.IPv4Interface(f"{subnet}.1/24"),
                                    address=ipaddress.IPv4Interface(f"{world.ip}/24"))  # fmt: skip
    webmail = dataclasses.replace(s.webmail, enabled=True, container=WEBMAIL)
    return dataclasses.replace(s, container=container, webmail=webmail)


@pytest.fixture(scope="module")
def webmail(mailworld: MailWorld) -> Iterator:  # noqa: F811
    from secumail.appliance import webmail as appliance_webmail

    os.environ.setdefault("SECUMAIL_IMAGE_CACHE", cache_dir())
    settings = webmail_settings(mailworld)
    appliance_webmail.remove(settings, purge=True)  # a run killed half-way
    result = appliance_webmail.install(settings, progress=print)
    assert result["container"] == "RUNNING", result
    try:
        yield settings
    finally:
        appliance_webmail.remove(settings, purge=True)
