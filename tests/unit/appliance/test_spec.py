"""The container spec Settings give: the veth's MAC stays the same across restarts."""

from __future__ import annotations

from secumail.appliance.spec import spec_for, stable_hwaddr
from secumail.container.idmap import IdMap
from secumail.container.lxcconf import render
from tests.support.settings import make_settings


def test_the_container_keeps_its_mac_across_restarts(tmp_path):
    # A random MAC per start left the host's ARP entry on the dead veth: ~30 s without a banner.
    s = make_settings(tmp_path)
    idmap = IdMap(uid_base=100000, gid_base=100000)
    first, again = render(spec_for(s, idmap), cgroup_version=2), render(spec_for(s, idmap), cgroup_version=2)
    mac = stable_hwaddr(s.main.container)
    assert f"lxc.net.0.hwaddr = {mac}" in first and first == again
    octets = [int(part, 16) for part in mac.split(":")]
    assert len(octets) == 6 and octets[0] & 0b11 == 0b10  # locally administered, unicast
    assert stable_hwaddr("other") != mac
