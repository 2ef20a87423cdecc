"""secumaild with a real mail container: reconcile after a kill, main.enabled=0, fail2ban on real Dovecot.

World: container `smdmn` on bridge `smdmn0` (10.236.0.1 host, .2 container), installed through
secumail.appliance.lifecycle.install(settings); everything under /var/tmp/secumail-daemon-test and
removed afterwards (even on failure), except the shared image cache. Two network-namespace hosts
(.5 and .6) hang on the container's bridge as clients. fail2ban uses its own nftables table name
(SECUMAIL_NFT_TABLE) so a daemon of the demo appliance on this host is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.daemon.secumaild import Daemon
from tests.integration.lxcworld import _cleanup_stale, cache_dir, ensure_apt_packages, need_root
from tests.support.procs import descendants
from tests.support.wait import stays, wait_until

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-daemon-test"
NAME, BRIDGE, SUBNET = "smdmn", "smdmn0", "10.236.0"
CT = f"{SUBNET}.2"
TABLE = "smdmntest"
RECONCILE = 15.0  # seconds; the hidden --reconcile-interval keeps the test short
BANTIME = 12
CLIENTS = {"smdmn-a": f"{SUBNET}.5", "smdmn-b": f"{SUBNET}.6"}


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=check)


def config(enabled: str) -> str:
    return f"""
config mailserver 'main'
	option enabled '{enabled}'
	option domain 'daemon.test'
	option hostname 'mail'
	option data_path '{WORK}/data'
	option container '{NAME}'

config container 'container'
	option lxc_path '{WORK}/lxc'
	option bridge '{BRIDGE}'
	option host_address '{SUBNET}.1/24'
	option address '{CT}/24'

config features 'features'
	option fail2ban '1'
	option fail2ban_maxretry '10'
	option fail2ban_bantime '{BANTIME}'
"""


def banner(port: int = 25, timeout: float = 2.0) -> bytes:
    with socket.create_connection((CT, port), timeout=timeout) as conn:
        conn.settimeout(5)
        return conn.recv(512)


def teardown_world() -> None:
    for ns in CLIENTS:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", f"{ns}0", check=False)
    _cleanup_stale(NAME, f"{WORK}/lxc", BRIDGE)
    sh("ip", "link", "del", BRIDGE, check=False)
    for family in ("inet", "bridge"):
        sh("nft", "delete", "table", family, TABLE, check=False)
    shutil.rmtree(WORK, ignore_errors=True)


@pytest.fixture(scope="module")
def world():
    need_root()
    ensure_apt_packages()
    if shutil.which("nft") is None:
        ensure_apt_packages(("nftables",))
    teardown_world()
    os.makedirs(f"{WORK}/conf")
    with open(f"{WORK}/conf/mailserver", "w", encoding="utf-8") as handle:
        handle.write(config("1"))
    old_cache = os.environ.get("SECUMAIL_IMAGE_CACHE")
    os.environ["SECUMAIL_IMAGE_CACHE"] = cache_dir()
    d = Daemon(WORK, {"SECUMAIL_NFT_TABLE": TABLE, "SECUMAIL_IMAGE_CACHE": cache_dir()},
               ("--reconcile-interval", str(RECONCILE)))  # fmt: skip
    try:
        from secumail.appliance import lifecycle
        from secumail.config import load_settings

        result = lifecycle.install(load_settings(f"{WORK}/conf"))
        assert result["container"] == "RUNNING", result
        # A Linux bridge takes the lowest MAC of its ports unless one is set: when the container's veth
        # comes and goes, the host's MAC changes under the container's ARP cache and its replies go to a
        # dead MAC for ~30 s (seen here: a restart answered after 30 s about every other run).
        # OpenWrt's netifd sets the bridge MAC; ensure_bridge does not (yet), so this world pins it.
        sh("ip", "link", "set", BRIDGE, "address", "02:53:4d:00:ec:01")
        for ns, addr in CLIENTS.items():  # client hosts on the container's bridge
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"{ns}0", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", f"{ns}0", "master", BRIDGE, "up")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        d.start()
        yield d
    finally:
        d.stop()
        with contextlib.suppress(OSError):  # kept for a look after a failure
            shutil.copy(d.log, "/tmp/secumail-daemon-test.log")
        for pid in descendants(d.proc.pid) if d.proc else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if old_cache is None:
            os.environ.pop("SECUMAIL_IMAGE_CACHE", None)
        else:
            os.environ["SECUMAIL_IMAGE_CACHE"] = old_cache
        teardown_world()


def container_state() -> str:
    return sh("lxc-info", "-P", f"{WORK}/lxc", "-n", NAME, "-s", "-H", check=False).stdout.strip()


def test_killed_container_is_reconciled_back_within_one_interval(world):
    d = world
    d.wait_for(lambda: d.call("daemon.info")["reconciles"] >= 1, what="first reconcile")
    # The first reconcile re-renders the config once (the daemon's state starts empty); let it settle.
    d.wait_for(lambda: [j["state"] for j in d.call("jobs.list") if j["name"] == "configure"] == ["done"],
               timeout=60, what="the first configure job")  # fmt: skip
    assert banner().startswith(b"220 ")
    sh("lxc-stop", "-P", f"{WORK}/lxc", "-n", NAME, "-k")
    killed = time.monotonic()
    assert container_state() == "STOPPED"

    def answers() -> bool:
        try:
            return banner(timeout=1).startswith(b"220 ")
        except OSError:
            return False

    # The daemon's part: it notices at once (pidfd) and the container runs again within one interval.
    d.wait_for(lambda: container_state() == "RUNNING", timeout=RECONCILE, what="the container running again")
    running = time.monotonic() - killed
    assert f"container {NAME} is stopped but main.enabled=1: starting it" in d.logtext()
    # The services inside: usually 2-7 s; in some runs of this world Postfix answered only after ~30 s
    # (not understood yet, not the daemon: it is seen with the container's own start path), so the
    # banner gets the interval plus service.start's 30 s wait.
    d.wait_for(answers, timeout=RECONCILE + 35, what="the SMTP banner after the kill")
    took = time.monotonic() - killed
    jobs = [j for j in d.call("jobs.list") if j["name"] == "container-up"]
    assert jobs and jobs[-1]["state"] in ("running", "done", "failed")
    print(f"container killed -> RUNNING again in {running:.1f} s, SMTP banner in {took:.1f} s")


IMAP_FAIL = r'''
import imaplib, ssl, sys, threading
n = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
fails = []
def one():
    try:
        m = imaplib.IMAP4_SSL(sys.argv[2], 993, ssl_context=ctx, timeout=15)
        try:
            m.login("nobody@daemon.test", "wrong")
        except imaplib.IMAP4.error:
            fails.append(1)
        m.logout()
    except Exception as exc:
        print("error", type(exc).__name__, exc, file=sys.stderr)
threads = [threading.Thread(target=one) for _ in range(n)]  # in parallel: Dovecot delays each failure 2 s
[t.start() for t in threads]; [t.join() for t in threads]
print(len(fails))
'''

PROBE = r'''
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 993), timeout=3); s.close(); print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print("timeout" if isinstance(exc, TimeoutError) else type(exc).__name__)
'''


def in_ns(ns: str, code: str, *args: str) -> str:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=90)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_failed_imap_logins_on_real_dovecot_get_the_client_refused_until_bantime(world):
    d = world
    d.wait_for(lambda: container_state() == "RUNNING", timeout=40, what="the container running")
    info = d.wait_for(lambda: (d.call("daemon.info").get("fail2ban") or {}).get("logfiles"), what="fail2ban on")
    rootfs = f"{WORK}/lxc/{NAME}/rootfs"
    assert f"{rootfs}/var/log/dovecot.log" in info  # followed on the host side, no option needed
    d.wait_for(lambda: in_ns("smdmn-a", PROBE, CT) == "open", timeout=30, what="IMAPS open")
    assert in_ns("smdmn-b", IMAP_FAIL, "3", CT) == "3"  # 3 failures: nobody is banned
    assert in_ns("smdmn-a", IMAP_FAIL, "10", CT) == "10"
    d.wait_for(lambda: d.call("daemon.info")["fail2ban"]["bans"] >= 1, timeout=15, what="the ban")
    banned_at = time.monotonic()
    assert in_ns("smdmn-a", PROBE, CT) == "refused"
    assert in_ns("smdmn-b", PROBE, CT) == "open"  # other hosts are unaffected
    assert f"fail2ban: banned {CLIENTS['smdmn-a']} for {BANTIME} s" in d.logtext()
    listed = sh("nft", "list", "set", "inet", TABLE, "banned4").stdout
    assert CLIENTS["smdmn-a"] in listed and CLIENTS["smdmn-b"] not in listed
    # let in again after bantime (polled: the unban is due BANTIME s after the ban, not before)
    wait_until(lambda: in_ns("smdmn-a", PROBE, CT) == "open", timeout=BANTIME + 10, interval=0.5,
               what="the address let in again after bantime")  # fmt: skip
    assert time.monotonic() - banned_at >= BANTIME / 2, "unbanned long before bantime"


def test_main_disabled_and_sighup_stop_the_container(world):
    d = world
    d.wait_for(lambda: container_state() == "RUNNING", timeout=40, what="the container running")
    with open(f"{WORK}/conf/mailserver", "w", encoding="utf-8") as handle:
        handle.write(config("0"))
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: container_state() == "STOPPED", timeout=40, what="the container stopped")
    assert f"container {NAME} runs but main.enabled=0: stopping it" in d.logtext()
    stays(lambda: container_state() == "STOPPED", seconds=2, what="the container stopped")  # and it stays stopped
