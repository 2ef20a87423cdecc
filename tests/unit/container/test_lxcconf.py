"""LXC config rendering: the lines this machine needed, and validation."""

from __future__ import annotations

import pytest

from secumail.container import lxcconf
from secumail.container.lxcconf import BindMount, ContainerSpec, render
from secumail.errors import InputError


def spec(**kw) -> ContainerSpec:
    base = dict(name="mailserver", lxcpath="/srv/lxc", rootfs="/srv/images/debian/rootfs")
    base.update(kw)
    return ContainerSpec(**base)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_bridge_network_has_flags_up_and_address() -> None:
    out = lines(render(spec(bridge="br-mail", address="10.9.0.2/24"), cgroup_version=1))
    assert "lxc.net.0.type = veth" in out
    assert "lxc.net.0.link = br-mail" in out
    assert "lxc.net.0.flags = up" in out
    assert "lxc.net.0.ipv4.address = 10.9.0.2/24" in out
    assert not any(line.startswith("lxc.net.0.ipv4.gateway") for line in out)


def test_gateway_only_when_given() -> None:
    out = lines(render(spec(gateway="10.231.0.1"), cgroup_version=1))
    assert "lxc.net.0.ipv4.gateway = 10.231.0.1" in out


def test_host_network_mode() -> None:
    out = lines(render(spec(network_mode="host"), cgroup_version=1))
    assert "lxc.net.0.type = none" in out
    assert not any(line.startswith("lxc.net.0.link") for line in out)


def test_memory_keys_v1_and_v2() -> None:
    v1 = lines(render(spec(memory_mb=256), cgroup_version=1))
    v2 = lines(render(spec(memory_mb=256), cgroup_version=2))
    assert "lxc.cgroup.memory.limit_in_bytes = 256M" in v1
    assert "lxc.cgroup2.memory.max = 268435456" in v2
    assert not any(line.startswith("lxc.cgroup2") for line in v1)
    assert not any(line.startswith("lxc.cgroup.") for line in v2)
    assert "lxc.cgroup2.devices.deny = a" in v2
    none = render(spec(memory_mb=None), cgroup_version=1)
    assert "memory" not in "".join(lines(none))


def test_cgroup_dir_puts_the_container_below_a_given_cgroup_and_refuses_escapes() -> None:
    assert "lxc.cgroup.dir = secumail/box" in lines(render(spec(cgroup_dir="secumail/box"), cgroup_version=1))
    assert "lxc.cgroup.dir = secumail" in lines(render(spec(cgroup_dir="secumail"), cgroup_version=2))
    assert not any("cgroup.dir" in line for line in lines(render(spec(), cgroup_version=1)))
    for bad in ("/secumail", "a/../b", "a b"):
        with pytest.raises(InputError, match="cgroup dir"):
            render(spec(cgroup_dir=bad), cgroup_version=1)


def test_tmpfs_run_tmp_rootfs_autodev_init() -> None:
    out = lines(render(spec(), cgroup_version=1))
    assert "lxc.rootfs.path = dir:/srv/images/debian/rootfs" in out
    assert any(line.startswith("lxc.mount.entry = tmpfs run tmpfs") for line in out)
    assert any(line.startswith("lxc.mount.entry = tmpfs tmp tmpfs") for line in out)
    assert "lxc.autodev = 1" in out
    assert "lxc.init.cmd = /usr/bin/tini -- /usr/local/sbin/secumail-init" in out
    assert "lxc.signal.halt = SIGTERM" in out
    assert "lxc.log.file = /srv/lxc/mailserver/lxc.log" in out
    off = lines(render(spec(tmpfs_run_tmp=False, autodev=False), cgroup_version=1))
    assert "lxc.autodev = 0" in off
    assert not any("tmpfs" in line for line in off)


def test_caps_dropped_and_kept() -> None:
    out = lines(render(spec(), cgroup_version=1))
    drop = next(line for line in out if line.startswith("lxc.cap.drop")).split("=", 1)[1].split()
    for cap in ("sys_module", "sys_rawio", "sys_time", "mac_admin", "mac_override", "sys_boot"):
        assert cap in drop
    for cap in ("chown", "setuid", "setgid", "net_bind_service", "sys_chroot", "dac_override", "kill"):
        assert cap not in drop


def test_bind_mounts() -> None:
    mounts = (
        BindMount("/srv/mailserver/mail", "/var/mail"),
        BindMount("/srv/mailserver/ssl", "/etc/secumail/ssl", read_only=True),
        BindMount("/srv/mailserver/config/main.cf", "/etc/postfix/main.cf", create="file"),
    )
    out = lines(render(spec(mounts=mounts), cgroup_version=1))
    assert "lxc.mount.entry = /srv/mailserver/mail var/mail none bind,create=dir 0 0" in out
    assert "lxc.mount.entry = /srv/mailserver/ssl etc/secumail/ssl none bind,ro,create=dir 0 0" in out
    assert "lxc.mount.entry = /srv/mailserver/config/main.cf etc/postfix/main.cf none bind,create=file 0 0" in out


def test_render_is_pure_and_deterministic() -> None:
    assert render(spec(), cgroup_version=1) == render(spec(), cgroup_version=1)


def test_extra_lines_appended() -> None:
    out = lines(render(spec(extra=("lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp",)),
                       cgroup_version=1))  # fmt: skip
    assert out[-1] == "lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp"


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(name="bad name"), "container name"),
        (dict(name="../x"), "container name"),
        (dict(lxcpath="srv/lxc"), "lxcpath"),
        (dict(rootfs="rootfs"), "rootfs"),
        (dict(rootfs="/"), "cannot be /"),
        (dict(network_mode="nat"), "network_mode"),
        (dict(bridge="a-very-long-bridge-name"), "bridge name"),
        (dict(address="10.0.0.300/24"), "container network"),
        (dict(address="fd00::2/64"), "IPv4"),
        (dict(gateway="nope"), "container network"),
        (dict(memory_mb=4), "too small"),
        (dict(mounts=(BindMount("relative", "/x"),)), "absolute"),
        (dict(mounts=(BindMount("/a", "/x/../etc"),)), "'..'"),
        (dict(mounts=(BindMount("/a b", "/x"),)), "whitespace"),
        (dict(extra=("lxc.a = 1\nlxc.b = 2",)), "extra LXC line"),
        (dict(extra=("rm -rf /",)), "extra LXC line"),
    ],
)
def test_validation(kw: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        render(spec(**kw), cgroup_version=1)


def test_detect_cgroup_version(tmp_path) -> None:
    (tmp_path / "memory").mkdir()
    assert lxcconf.detect_cgroup_version(str(tmp_path)) == 1
    unified = tmp_path / "u"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpu memory\n")
    assert lxcconf.detect_cgroup_version(str(unified)) == 2


def test_spec_paths() -> None:
    s = spec(address="10.1.2.3/24")
    assert s.config_path == "/srv/lxc/mailserver/config"
    assert s.ip == "10.1.2.3"


def test_unprivileged_confinement_lines():
    from secumail.container.idmap import IdMap
    from secumail.container.lxcconf import SECCOMP_DENY, seccomp_policy

    spec = ContainerSpec(name="mail", lxcpath="/srv/lxc", rootfs="/srv/lxc/mail/rootfs",
                         idmap=IdMap(100000, 200000), masks=("/srv/mailserver/ssl/acme",))
    out = render(spec, cgroup_version=2)
    assert "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 200000 65536" in out
    assert "lxc.seccomp.profile = /srv/lxc/mail/seccomp" in out
    dropped = next(line for line in out.splitlines() if line.startswith("lxc.cap.drop")).split()[2:]
    for cap in ("sys_admin", "dac_read_search", "net_raw", "mknod", "sys_module"):
        assert cap in dropped
    for cap in ("chown", "setuid", "setgid", "sys_chroot", "dac_override", "net_bind_service"):
        assert cap not in dropped
    assert "lxc.mount.entry = tmpfs srv/mailserver/ssl/acme tmpfs ro," in out
    policy = seccomp_policy().splitlines()
    assert policy[:4] == ["2", "denylist", "reject_force_umount", "[all]"]
    for name in ("kexec_load", "open_by_handle_at", "init_module", "finit_module", "delete_module", "keyctl",
                 "add_key", "request_key", "bpf", "perf_event_open"):
        assert name in SECCOMP_DENY and f"{name} errno 1" in policy
    # LXC reads [argument, value, op, mask] and compares (argument & mask) == value
    assert "clone errno 1 [0,0x10000000,SCMP_CMP_MASKED_EQ,0x10000000]" in policy  # CLONE_NEWUSER
    assert sum(line.startswith("clone errno 1 [0,") for line in policy) == 7
    assert policy[-1] == "clone3 errno 38"  # ENOSYS: the C library falls back to clone
