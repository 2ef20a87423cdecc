"""files/etc/init.d/mailserver under OpenWrt's own rc.common, functions.sh and procd.sh.

A chroot shaped like a router: busybox ash as /bin/sh (OpenWrt's shell), the real uci and jshn built from the
pinned sources in ../shared/openwrt-userland, OpenWrt's shell library from OPENWRT_SRC, the package's init
script and config. Only `ubus` is a stand-in: it records the message procd would receive (contract test: no
procd runs here), and `mailctl` answers the one question the init script asks it (`--json mesh id`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from tests.support import apt
from tests.support.openwrt_userland import kit_prefix, openwrt_shell
from tests.support.paths import REPO

CALLS = "tmp/ubus-calls.jsonl"
NODE_ID = "AB12-CD34-EF56"
UBUS = """#!/bin/sh
# procd's side of `ubus call service METHOD MESSAGE`: one JSON object per call
[ "$1" = call ] || exit 2
message="$4"
[ -n "$message" ] || message='{}'
printf '{"object": "%s", "method": "%s", "message": %s}\\n' "$2" "$3" "$message" >> /tmp/ubus-calls.jsonl
[ "$3" = list ] && echo '{}'
exit 0
"""
MAILCTL = f"""#!/bin/sh
[ "$*" = "--json mesh id" ] || exit 2
echo '{{"node_id": "{NODE_ID}"}}'
"""
INSTANCE = {
    "command": ["/usr/bin/secumaild", "--foreground"],
    "respawn": ["3600", "5", "5"],
    "stdout": True,
    "stderr": True,
    "file": ["/etc/config/mailserver"],
    "term_timeout": 30,
}
RELOAD_TRIGGER = ["config.change", ["if", ["eq", "package", "mailserver"],
                                    ["run_script", "/etc/init.d/mailserver", "reload"]], 1000]  # fmt: skip


def _copy_with_libraries(root: str, source: str, dest: str) -> None:
    """A dynamic binary at `dest` in the chroot, with every library ldd names at its own path."""
    target = os.path.join(root, dest.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(source, target)
    ldd = subprocess.run(["ldd", source], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        words = line.split()
        path = words[2] if len(words) > 2 and words[1] == "=>" else words[0]
        if path.startswith("/"):
            inside = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            if not os.path.exists(inside):
                shutil.copy2(path, inside)


def _write(root: str, path: str, text: str, mode: int = 0o644) -> None:
    target = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(target, mode)


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the procd test needs root (chroot)")
    shell, reason = openwrt_shell()
    if reason:
        pytest.skip(reason)
    reason = apt.install(["busybox-static"])
    if reason:
        pytest.skip(reason)
    prefix, reason = kit_prefix()
    if reason:
        pytest.skip(reason)
    root = str(tmp_path_factory.mktemp("router"))
    busybox = os.path.join(root, "bin", "busybox")
    os.makedirs(os.path.dirname(busybox))
    shutil.copy2("/bin/busybox", busybox)
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout
    for applet in applets.split():
        link = os.path.join(root, applet)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink("/bin/busybox", link)
    # Debian's busybox has no flock applet (OpenWrt's has): procd.sh locks with it
    _copy_with_libraries(root, shutil.which("flock"), "/usr/bin/flock")
    _copy_with_libraries(root, os.path.join(prefix, "bin", "uci"), "/sbin/uci")
    _copy_with_libraries(root, os.path.join(prefix, "bin", "jshn"), "/usr/bin/jshn")
    with open(os.path.join(prefix, "share", "libubox", "jshn.sh"), encoding="utf-8") as handle:
        _write(root, "/usr/share/libubox/jshn.sh", handle.read())
    for dest, source in shell.items():
        with open(source, encoding="utf-8") as handle:
            _write(root, dest, handle.read(), 0o755)
    for path in ("etc/init.d/mailserver", "etc/config/mailserver"):
        with open(os.path.join(REPO, "files", path), encoding="utf-8") as handle:
            _write(root, path, handle.read(), 0o755 if "init.d" in path else 0o644)
    # the kit compiled OpenWrt's paths (/etc/config, /tmp/.uci, /var/state) as PREFIX/rt/...: point that at /
    os.makedirs(os.path.dirname(os.path.join(root, prefix.lstrip("/"), "rt")), exist_ok=True)
    os.symlink("/", os.path.join(root, prefix.lstrip("/"), "rt"))
    _write(root, "/bin/ubus", UBUS, 0o755)
    _write(root, "/usr/bin/mailctl", MAILCTL, 0o755)
    for directory in ("dev", "tmp", "var/lock", "var/run", "var/state", "etc/rc.d"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    os.mknod(os.path.join(root, "dev", "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return root


def run(root: str, *argv: str) -> list[dict]:
    """Run argv in the router; the ubus calls it made (what procd would have received)."""
    calls = os.path.join(root, CALLS)
    if os.path.exists(calls):
        os.unlink(calls)
    done = subprocess.run(["chroot", root, *argv], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not found" not in done.stderr, done.stderr  # a missing command in the chroot hides real failures
    if not os.path.exists(calls):
        return []
    with open(calls, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def uci(root: str, *argv: str) -> None:
    subprocess.run(["chroot", root, "/sbin/uci", *argv], check=True, timeout=30)


def test_start_registers_one_respawning_secumaild_with_a_reload_trigger(router):
    uci(router, "set", "mailserver.mesh.enabled=0")
    uci(router, "commit", "mailserver")
    calls = run(router, "/etc/init.d/mailserver", "start")
    assert len(calls) == 1, calls
    call = calls[0]
    assert (call["object"], call["method"]) == ("service", "set")
    message = call["message"]
    assert message["name"] == "mailserver"
    assert message["script"] == "/etc/init.d/mailserver"
    assert message["instances"] == {"secumaild": INSTANCE}  # no env, no limits: procd's own environment
    assert message["triggers"] == [RELOAD_TRIGGER]


def test_mesh_on_announces_the_node_id_by_mdns_from_the_instance(router):
    uci(router, "set", "mailserver.mesh.enabled=1")
    uci(router, "set", "mailserver.mesh.port=7100")
    uci(router, "commit", "mailserver")
    try:
        [call] = run(router, "/etc/init.d/mailserver", "start")
    finally:
        uci(router, "set", "mailserver.mesh.enabled=0")
        uci(router, "commit", "mailserver")
    instance = call["message"]["instances"]["secumaild"]
    mdns = {"secumail_7100": {"service": "_secumail._tcp.local", "port": 7100, "txt": [f"id={NODE_ID}", "v=1"]}}
    assert instance.pop("data") == {"mdns": mdns}
    assert instance == INSTANCE


def test_stop_deletes_the_service(router):
    assert run(router, "/etc/init.d/mailserver", "stop") == [
        {"object": "service", "method": "delete", "message": {"name": "mailserver"}}
    ]


def test_reload_and_the_reload_trigger_send_secumaild_sighup_without_a_restart(router):
    hup = [{"object": "service", "method": "signal",
            "message": {"name": "mailserver", "instance": "secumaild", "signal": 1}}]  # fmt: skip
    assert run(router, "/etc/init.d/mailserver", "reload") == hup
    # what procd runs on `uci commit mailserver` + reload_config: the run_script of the registered trigger
    [call] = run(router, "/etc/init.d/mailserver", "start")
    [trigger] = call["message"]["triggers"]
    run_script = trigger[1][2]
    assert run_script[0] == "run_script"
    assert run(router, *run_script[1:]) == hup


def test_enable_links_the_script_into_rc_d_at_its_start_and_stop_priorities(router):
    run(router, "/etc/init.d/mailserver", "enable")
    links = sorted(os.listdir(os.path.join(router, "etc", "rc.d")))
    assert links == ["K10mailserver", "S95mailserver"]
    for link in links:
        assert os.readlink(os.path.join(router, "etc", "rc.d", link)) == "../init.d/mailserver"
    run(router, "/etc/init.d/mailserver", "disable")
    assert os.listdir(os.path.join(router, "etc", "rc.d")) == []
