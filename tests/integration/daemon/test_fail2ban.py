"""fail2ban: failed IMAP logins from a host in a network namespace get it refused, for bantime only.

The server side runs in its own namespace (a bridge with two client namespaces
on it), and secumaild runs there too, so its nftables table never touches the
host's rules. The IMAP server is a small stand-in that logs each failed login
in Dovecot's own format; the real Dovecot in the mail container writes the
same line (see docs/openwrt.md) — what is exercised here is everything after
that: following the log, counting, the nftables set with its timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.paths import REPO
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

SERVER = r'''
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.77.0.1", 143)); srv.listen(64)
def serve(conn, peer):
    with conn:
        conn.sendall(b"* OK IMAP ready\r\n")
        data = conn.recv(1024)
        if data.upper().split(b" ")[1:2] == [b"LOGIN"]:
            conn.sendall(b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
            log.write("dovecot: imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 0 secs): "
                      f"user=<bob>, method=PLAIN, rip={peer[0]}, lip=10.77.0.1, session=<x>\n")
while True:
    c, p = srv.accept()
    threading.Thread(target=serve, args=(c, p), daemon=True).start()
'''

CLIENT = r'''
import socket, sys
n = int(sys.argv[1])
for i in range(n):
    s = socket.create_connection(("10.77.0.1", 143), timeout=3)
    s.recv(100); s.sendall(b"a LOGIN bob wrong\r\n"); s.recv(100); s.close()
try:
    s = socket.create_connection(("10.77.0.1", 143), timeout=3); s.recv(100); s.close(); print("open")
except ConnectionRefusedError:
    print("refused")
'''


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns_world(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces and nftables need root")
    for tool in ("ip", "nft"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is missing (apt-get install iproute2 nftables)")
    tag = f"{os.getpid() % 10000}"
    names = {"srv": f"smf-s{tag}", "c1": f"smf-a{tag}", "c2": f"smf-b{tag}"}
    try:
        for ns in names.values():
            sh("ip", "netns", "add", ns)
        srv = names["srv"]
        sh("ip", "-n", srv, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", srv, "addr", "add", "10.77.0.1/24", "dev", "br0")
        sh("ip", "-n", srv, "link", "set", "br0", "up")
        sh("ip", "-n", srv, "link", "set", "lo", "up")
        for i, key in enumerate(("c1", "c2"), start=2):
            ns = names[key]
            sh("ip", "link", "add", f"smfv{tag}{i}", "netns", srv, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", srv, "link", "set", f"smfv{tag}{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"10.77.0.{i}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        yield names
    finally:
        for ns in names.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_ns(ns: str, code: str, *args: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=60, check=True).stdout.strip()  # fmt: skip


def _guarded_daemon(netns_world, make_daemon, log, server_code: str, maxretry: int = 10):
    """secumaild with fail2ban following `log`, and the stand-in server, both in the server's namespace."""
    d = make_daemon(extra_config=(
        f"\toption fail2ban '1'\n\toption fail2ban_maxretry '{maxretry}'\n\toption fail2ban_bantime '10'\n"
        f"\tlist fail2ban_logfile '{log}'\n"))  # fmt: skip
    # replace the `option fail2ban '0'` the fixture wrote
    path = os.path.join(d.confdir, "mailserver")
    with open(path, encoding="utf-8") as handle:
        text = handle.read().replace("\toption fail2ban '0'\n", "", 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    server = subprocess.Popen(["ip", "netns", "exec", netns_world["srv"], sys.executable, "-c", server_code,
                               str(log)])  # fmt: skip
    d.proc = None
    try:
        # secumaild in the server's namespace, as procd would run it there
        with open(d.log, "ab") as out:
            argv = ["ip", "netns", "exec", netns_world["srv"], sys.executable, "-m", "secumail.daemon",
                    "--foreground", "--confdir", d.confdir, "--stderr", "--debug"]  # fmt: skip
            d.proc = subprocess.Popen(argv, stdout=out, stderr=out, env=d.env, cwd=REPO)
        d.wait_for(lambda: (d.call("daemon.info").get("fail2ban") or {}).get("logfiles"), what="fail2ban active")
    except BaseException:
        server.kill()
        server.wait()
        raise
    return d, server


def test_ten_failed_imap_logins_get_the_address_refused_until_bantime(netns_world, make_daemon, tmp_path):
    log = tmp_path / "dovecot.log"
    log.write_text("")
    d, server = _guarded_daemon(netns_world, make_daemon, log, SERVER)
    try:
        assert in_ns(netns_world["c2"], CLIENT, "3") == "open"  # 3 failures: nobody is banned
        assert in_ns(netns_world["c1"], CLIENT, "9") == "open"  # 9 failures: not yet
        assert in_ns(netns_world["c1"], CLIENT, "1") in ("open", "refused")  # the 10th
        d.wait_for(lambda: d.call("daemon.info")["fail2ban"]["bans"] == 1, timeout=10, what="the ban")
        banned_at = time.monotonic()
        assert in_ns(netns_world["c1"], CLIENT, "0") == "refused"
        assert in_ns(netns_world["c2"], CLIENT, "0") == "open"  # other hosts are unaffected
        sets = subprocess.run(["ip", "netns", "exec", netns_world["srv"], "nft", "list", "set", "inet", "secumail",
                               "banned4"],
                              capture_output=True, text=True).stdout  # fmt: skip
        assert "10.77.0.2" in sets and "10.77.0.3" not in sets
        assert "fail2ban: banned 10.77.0.2 for 10 s" in d.logtext()
        # let in again after bantime (10 s; polled)
        wait_until(lambda: in_ns(netns_world["c1"], CLIENT, "0") == "open", timeout=20, interval=0.5,
                   what="the address let in again after bantime")  # fmt: skip
        assert time.monotonic() - banned_at >= 5, "unbanned long before bantime"
    finally:
        server.kill()
        server.wait()


SERVER6 = SERVER.replace("socket.socket()", "socket.socket(socket.AF_INET6)").replace(
    '("10.77.0.1", 143)', '("2001:db8:77::1", 143)')
# The failures come from several addresses of one /64 (an attacker rotating its source); `sources` are
# the addresses used in turn, the last number is how many logins fail.
CLIENT6 = r'''
import socket, sys
sources, n = sys.argv[1].split(","), int(sys.argv[2])
def connect(source):
    s = socket.socket(socket.AF_INET6); s.settimeout(3); s.bind((source, 0)); s.connect(("2001:db8:77::1", 143))
    return s
for i in range(n):
    s = connect(sources[i % len(sources)])
    s.recv(100); s.sendall(b"a LOGIN bob wrong\r\n"); s.recv(100); s.close()
try:
    s = connect(sources[-1]); s.recv(100); s.close(); print("open")
except ConnectionRefusedError:
    print("refused")
'''


def test_an_ipv6_attacker_rotating_inside_its_64_is_banned_as_one(netns_world, make_daemon, tmp_path):
    sh("ip", "-n", netns_world["srv"], "addr", "add", "2001:db8:77::1/48", "dev", "br0", "nodad")
    attacker = [f"2001:db8:77:1::{i}" for i in (2, 3, 4, 5, 6)]  # one /64
    for address in attacker:
        sh("ip", "-n", netns_world["c1"], "addr", "add", f"{address}/48", "dev", "eth0", "nodad")
    sh("ip", "-n", netns_world["c2"], "addr", "add", "2001:db8:77:2::2/48", "dev", "eth0", "nodad")  # another /64
    log = tmp_path / "dovecot.log"
    log.write_text("")
    d, server = _guarded_daemon(netns_world, make_daemon, log, SERVER6, maxretry=5)
    try:
        # five failures from four addresses: never more than two per address
        assert in_ns(netns_world["c1"], CLIENT6, ",".join(attacker[:4]), "5") in ("open", "refused")
        d.wait_for(lambda: d.call("daemon.info")["fail2ban"]["bans"] == 1, timeout=10, what="the ban")
        # an address of the same /64 never used before is refused; another /64 is not
        assert in_ns(netns_world["c1"], CLIENT6, attacker[4], "0") == "refused"
        assert in_ns(netns_world["c2"], CLIENT6, "2001:db8:77:2::2", "0") == "open"
        sets = subprocess.run(["ip", "netns", "exec", netns_world["srv"], "nft", "list", "set", "inet", "secumail",
                               "banned6net"], capture_output=True, text=True).stdout  # fmt: skip
        assert "2001:db8:77:1::/64" in sets
        assert "fail2ban: banned 2001:db8:77:1::/64 for 10 s" in d.logtext()
    finally:
        server.kill()
        server.wait()
