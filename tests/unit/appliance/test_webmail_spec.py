"""The webmail container's LXC spec (secumail.appliance.webmail.spec_for): beside the mail container."""

from __future__ import annotations

import ipaddress
import os

import pytest

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


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_new_subuid_range_moves_the_image_and_roundcubes_database(tmp_path):
    from secumail.container import idmap

    settings = make_settings(str(tmp_path / "data"), main={"domain": "example.org", "hostname": "mail"},
                             container={"lxc_path": str(tmp_path / "lxc")})  # fmt: skip
    rootfs, data = webmail.rootfs_path(settings), settings.layout.webmail
    for directory in (os.path.join(rootfs, "etc"), data):
        os.makedirs(directory)
    (tmp_path / "lxc" / settings.webmail.container / "rootfs" / "etc" / "group").write_text("www-data:x:33:\n")
    webmail.hand_to_ids(settings, MAP)
    database = os.path.join(data, "roundcube.db")
    with open(database, "w") as handle:
        handle.write("sqlite")
    os.chown(database, MAP.uid(33), MAP.gid(33))  # Roundcube (www-data) made it
    moved = IdMap(300000, 300000)
    webmail.hand_to_ids(settings, moved)
    assert idmap.rootfs_map(rootfs) == moved
    assert (os.stat(database).st_uid, os.stat(database).st_gid) == (300033, 300033)
    assert os.stat(os.path.join(rootfs, "etc", "group")).st_uid == 300000
    webmail.hand_to_ids(settings, moved)  # the same map again: nothing moves
    assert os.stat(database).st_uid == 300033
