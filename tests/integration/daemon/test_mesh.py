"""secumaild's mesh side: the daemon holds the SFTP socket, a peer pulls through it; discovery worker.

Two network namespaces on bridge smdmb0 (10.236.9.0/24, multicast route only, no default route):
node A runs secumaild with mesh.enabled; node B is a mailctl client that pulls A's backups
through the socket A's daemon holds (each connection is served by a short-lived sftpd worker).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.integration.daemon.secumaild import Daemon
from tests.support.paths import REPO
from tests.support.procs import descendants
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

BRIDGE = "smdmb0"
NODES = {"a": "10.236.9.11", "b": "10.236.9.12"}
PORT = 7122


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=check)


def teardown() -> None:
    for name in NODES:
        sh("ip", "netns", "del", f"smdmb-{name}", check=False)
        sh("ip", "link", "del", f"smdmb-{name}0", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


@pytest.fixture
def mesh_net():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    pytest.importorskip("paramiko")
    pytest.importorskip("zeroconf")
    teardown()
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
        sh("ip", "link", "set", BRIDGE, "up")
        for name, addr in NODES.items():
            ns = f"smdmb-{name}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"smdmb-{name}0", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", f"smdmb-{name}0", "master", BRIDGE, "up")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "multicast", "on", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        yield
    finally:
        teardown()


def node_config(root: str, name: str, extra: str = "") -> dict[str, str]:
    conf, data = os.path.join(root, name, "conf"), os.path.join(root, name, "data")
    os.makedirs(conf)
    os.makedirs(os.path.join(data, "mail", "example.org", "alice", "cur"))
    with open(os.path.join(data, "mail", "example.org", "alice", "cur", "1.eml"), "w") as handle:
        handle.write(f"Subject: kept by the mesh of {name}\n\nhello\n")
    with open(os.path.join(conf, "mailserver"), "w", encoding="utf-8") as handle:
        handle.write(f"config mailserver 'main'\n\toption domain '{name}.example.org'\n\toption data_path '{data}'\n"
                     f"\nconfig mesh 'mesh'\n\toption port '{PORT}'\n{extra}"
                     f"\nconfig features 'features'\n\toption fail2ban '0'\n")  # fmt: skip
    return {"conf": conf, "data": data}


def mailctl(name: str, conf: str, *args: str) -> dict:
    env = dict(os.environ, SECUMAIL_CONFDIR=conf, SECUMAIL_SAVEDIR=os.path.join(conf, "..", "save"),
               SECUMAIL_RUNDIR=os.path.join(conf, "..", "run"), PYTHONPATH=REPO)  # fmt: skip
    proc = subprocess.run(["ip", "netns", "exec", f"smdmb-{name}", sys.executable, "-m", "secumail.cli", "--json",
                           *args], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, f"mailctl {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout)


def test_peer_pulls_through_the_daemon_held_socket_and_discovery_is_respawned(mesh_net, tmp_path):
    root = str(tmp_path)
    a = node_config(root, "a", "\toption enabled '1'\n\toption discovery '1'\n")
    b = node_config(root, "b")
    id_a = mailctl("a", a["conf"], "mesh", "id")["node_id"]
    id_b = mailctl("b", b["conf"], "mesh", "id")["node_id"]
    mailctl("a", a["conf"], "mesh", "add-peer", id_b)
    mailctl("b", b["conf"], "mesh", "add-peer", id_a, f"{NODES['a']}:{PORT}")
    mailctl("a", a["conf"], "mesh", "backup")

    d = Daemon(os.path.join(root, "a"))
    os.makedirs(d.rundir)
    with open(d.log, "ab") as out:
        d.proc = subprocess.Popen(["ip", "netns", "exec", "smdmb-a", sys.executable, "-m", "secumail.daemon",
                                   "--foreground", "--confdir", a["conf"], "--stderr", "--debug"],
                                  stdout=out, stderr=out, env=d.env, cwd=REPO)  # fmt: skip
    try:
        info = d.wait_for(lambda: (lambda i: i if (i.get("mesh") or {}).get("discovery_pid") else None)(
            d.call("daemon.info")), what="mesh listener and discovery")  # fmt: skip
        assert info["mesh"]["listening"] == PORT
        assert f"pid={d.proc.pid}," in sh("ip", "netns", "exec", "smdmb-a", "ss", "-ltnp", f"sport = :{PORT}").stdout

        pulled = mailctl("b", b["conf"], "mesh", "sync", "pull")
        text = json.dumps(pulled)
        assert id_a in text and "ok" in text, pulled
        held = os.path.join(b["data"], "backup", "peers", id_a)
        assert os.path.isdir(held) and any(files for _d, _s, files in os.walk(held)), "nothing pulled from A"

        info = d.call("daemon.info")
        assert info["mesh"]["served"] >= 1
        assert info["heavy_modules"] == [], info["heavy_modules"]  # paramiko/zeroconf only in workers
        print(f"daemon RSS with mesh on (listener + discovery worker): {info['rss_kb']} kB")
        assert f"connection from {NODES['b']} handed to SFTP worker pid" in d.logtext()

        # The discovery worker dies: it is started again after the backoff (5 s), the daemon stays.
        old = info["mesh"]["discovery_pid"]
        kids = {pid for pid in descendants(d.proc.pid)}
        target = [pid for pid in kids if _cmdline(pid).endswith("secumail.mesh.discovery --confdir " + a["conf"])]
        assert target, "no discovery worker under the daemon"
        os.kill(target[0], signal.SIGKILL)
        again = d.wait_for(lambda: (lambda m: m if m["discovery_restarts"] == 1 and m["discovery_pid"] else None)(
            d.call("daemon.info")["mesh"]), timeout=15, what="discovery restarted")  # fmt: skip
        assert again["discovery_pid"] != old
        assert "mesh discovery worker exited with -9" in d.logtext()

        # mesh off + SIGHUP: the port is closed and the worker stopped.
        with open(os.path.join(a["conf"], "mailserver"), encoding="utf-8") as handle:
            conf = handle.read().replace("\toption enabled '1'\n", "\toption enabled '0'\n")
        with open(os.path.join(a["conf"], "mailserver"), "w", encoding="utf-8") as handle:
            handle.write(conf)
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: d.call("daemon.info")["mesh"]["listening"] is None, what="listener closed")
        with contextlib.suppress(AssertionError):  # the listener's children may take a moment to exit
            wait_until(lambda: not [p for p in descendants(d.proc.pid) if "secumail.mesh" in _cmdline(p)], timeout=5)
        assert not [p for p in descendants(d.proc.pid) if "secumail.mesh" in _cmdline(p)]
    finally:
        d.stop()
        for pid in descendants(d.proc.pid):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
