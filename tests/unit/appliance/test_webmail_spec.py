"""The webmail container's LXC spec (secumail.appliance.webmail.spec_for): beside the mail container."""

from __future__ import annotations

import ipaddress

from secumail.appliance import webmail
from secumail.container.idmap import IdMap
from tests.support.settings import make_settings

MAP = IdMap(100000, 100000)


def _settings(**container):
    container.setdefault("address", ipaddress.IPv4Interface("10.9.0.2/24"))
    return make_settings("/srv/mailserver", main={"domain": "example.org", "hostname": "mail"}, container=container)


def test_next_address_on_the_mail_bridge_with_its_own_data_only():
    spec = webmail.spec_for(_settings(), MAP)
    assert spec.address == "10.9.0.3/24" and spec.bridge == "br-mail"
    assert [(m.host_path, m.container_path) for m in spec.mounts] == [("/srv/mailserver/webmail", "/srv/webmail")]
    assert spec.idmap == MAP and spec.memory_mb == webmail.MEMORY_MB


def test_its_cgroup_is_made_where_the_mail_containers_is():
    assert webmail.spec_for(_settings(cgroup="secumail"), MAP).cgroup_dir == "secumail"
    assert webmail.spec_for(_settings(), MAP).cgroup_dir == ""
