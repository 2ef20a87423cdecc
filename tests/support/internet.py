"""A small simulated internet in network namespaces, with two full secumail appliances on it.

    with internet() as net:
        net.a.mailctl("user", "list")
        net.resolve("b.test", "MX")

The layout (all TEST-NET-2 addresses, only on the bridge and namespaces made here):

    sminet0 (bridge, host netns)   198.51.100.1   the test's own vantage point ("a user on the internet")
                                   198.51.100.53  Knot: authoritative for test., a.test, b.test and the
                                                  reverse zone of 198.51.100.0/24, TSIG-signed updates
                                   198.51.100.54  Unbound: the recursive resolver every host uses (stub
                                                  zones to Knot; no DNSSEC)
                                   198.51.100.55  pebble: the public ACME CA (DNS-01 through Unbound)
    smi-ra (router A netns)  wan   198.51.100.10  DNAT 25/465/587/143/993 -> 10.246.0.2, masquerade out
        smia0 (bridge)             10.246.0.1     container smia (10.246.0.2): appliance for a.test
    smi-rb (router B netns)  wan   198.51.100.20  same, -> 10.247.0.2, container smib: b.test
    smi-fg (forger netns)    eth0  198.51.100.66  a host that sends whatever it likes: fg.test, with
                                                  matching forward and reverse DNS like a rented server
    smiisp (LXC container)   eth0  198.51.100.25  optional (`net.isp()`): the ISP's smarthost
                                                  smtp.isp.test, a plain Postfix wanting SASL on 587
                                                  (tests/support/smarthost.py), delivering by MX

What an ISP does to a home line, for the tests that need it: `net.block_port25(site)` drops outbound
TCP 25 leaving the router's WAN (an nft table in its namespace), `net.move_wan(site, address)` gives
the router another WAN address (a new lease).

Knot also serves SPARE_ZONES (c.test), empty and delegated, for a second domain an appliance may
host (`mailctl domain add`); the appliance publishes its records there as for its own.

Each appliance is installed as a user installs it: its own UCI dir, data_path, LXC path, bridge and
container, `mailctl install` run inside the router's namespace (see netns_shell), then `mailctl dns-setup`
publishes MX, A,
SPF, DKIM and DMARC through the rfc2136 provider on Knot. The only records the world writes itself
are the ISP's: the delegations in `test.` and the PTR of each WAN address.

Certificates: each appliance runs `mailctl ssl-setup` (ACME DNS-01 against pebble, the challenge
published through the same rfc2136 provider), so every TLS port serves a chain to `net.ca_root()`.

Teardown (also after any failure, and at the start for what a killed run left): containers
stopped and destroyed, namespaces (with their veths, bridges and nft rules) deleted, Knot and
Unbound stopped, the bridge deleted, /var/tmp/secumail-inet removed. The image cache is kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.support import apt, smarthost
from tests.support.knot import Knot
from tests.support.paths import REPO
from tests.support.procs import terminate
from tests.support.wait import wait_until

if TYPE_CHECKING:
    from tests.integration.certs.world import Pebble
    from tests.integration.lxcworld import LxcWorld

NET = "198.51.100"
BRIDGE = "sminet0"
HOST_IP = f"{NET}.1"
KNOT_IP = f"{NET}.53"
RESOLVER_IP = f"{NET}.54"
CA_IP = f"{NET}.55"
FORGER = ("smi-fg", f"{NET}.66")
ISP_NAME, ISP_IP, ISP_DOMAIN = "smiisp", f"{NET}.25", "isp.test"
FORGER_NAME = "fg.test"  # its A and PTR records: a well-kept host, so only the forgery itself counts
SPARE_ZONES = ("c.test",)  # served by Knot from the start, for an appliance's second hosted domain
WORK = "/var/tmp/secumail-inet"
# what fw4 redirects from wan to the container on OpenWrt (443 only while the container's web server runs,
# secumail.mail.webserve; here always: with nothing listening in the container the connection is refused there)
PORTS = (25, 465, 587, 143, 993, 443)
APT_PACKAGES = ("knot", "knot-dnsutils", "unbound", "pebble", "lxc", "debootstrap", "zstd", "nftables")
IMAGE_CACHE = os.environ.get("SECUMAIL_IMAGE_CACHE") or "/var/cache/secumail-test"
PASSWORD = "correct horse battery staple"


def netns_shell() -> str:
    """The shell prefix that makes a command run as if on a router: its network namespace, and in a
    private mount namespace a fresh /sys showing that network (LXC and the product read bridges in
    /sys/class/net) with the host's cgroup mounts put back below it (`ip netns exec` remounts /sys
    but loses them, and LXC needs them). Only a whole fresh sysfs will do: an unprivileged container
    may mount its own sysfs only where the one it sees is not partly covered."""
    steps = ["umount -l /sys", "mount -t sysfs sysfs /sys"]
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        for line in handle:
            source, target, fstype, options = line.split()[:4]
            if target.startswith("/sys/fs/cgroup"):
                steps.append(f"mkdir -p {target} && mount -t {fstype} -o {options} {source} {target}")
    return " && ".join([*steps, 'exec "$@"'])


def sh(*args: str, check: bool = True, timeout: float = 60, input: str | None = None,
       label: str = "") -> subprocess.CompletedProcess:  # fmt: skip
    """Run a command; with check, RuntimeError naming `label` (else the command) and its last words."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-500:]
        raise RuntimeError(f"{label or ' '.join(args)} failed ({done.returncode}): {said}")
    return done


@dataclass(frozen=True)
class Site:
    """One router (namespace) with its appliance behind it."""

    domain: str
    netns: str
    wan_ip: str
    subnet: str  # first three octets of the container bridge
    container: str

    @property
    def bridge(self) -> str:
        return f"{self.container}0"

    @property
    def container_ip(self) -> str:
        return f"{self.subnet}.2"

    @property
    def fqdn(self) -> str:
        return f"mail.{self.domain}"

    @property
    def workdir(self) -> str:
        return os.path.join(WORK, self.container)

    @property
    def confdir(self) -> str:
        return os.path.join(self.workdir, "conf")

    @property
    def data(self) -> str:
        return os.path.join(self.workdir, "data")

    @property
    def lxc_path(self) -> str:
        return os.path.join(self.workdir, "lxc")

    @property
    def mailctl_script(self) -> str:
        """A shell script running mailctl for this appliance on its router (for a person to use)."""
        return os.path.join(self.workdir, "mailctl")

    @property
    def credentials(self) -> str:
        return os.path.join(self.workdir, "dns.secret")

    def user(self, name: str) -> str:
        return f"{name}@{self.domain}"

    def uci(self) -> str:
        return f"""
config mailserver 'main'
	option enabled '1'
	option domain '{self.domain}'
	option hostname 'mail'
	option data_path '{self.data}'
	option container '{self.container}'

config container 'container'
	option lxc_path '{self.lxc_path}'
	option bridge '{self.bridge}'
	option host_address '{self.subnet}.1/24'
	option address '{self.container_ip}/24'
	option gateway 'host'
	list nameservers '{RESOLVER_IP}'

config ssl 'ssl'
	option type 'acme'

config acme 'acme'
	option directory 'https://{CA_IP}:14000/dir'
	option ca_bundle '{os.path.join(WORK, "pebble", "listener-ca.pem")}'
	option key_type 'ec256'

config dns 'dns'
	option provider 'rfc2136'
	option server '{KNOT_IP}'
	option zone '{self.domain}'
	option credentials '{self.credentials}'
	option public_ipv4 '{self.wan_ip}'
	option ttl '60'
	option timeout '5'
	list resolver '{RESOLVER_IP}'
"""

    def in_ns(self, *args: str, check: bool = True, timeout: float = 120,
              input: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        """Run a command on the router: in its network namespace (see netns_shell)."""
        return sh(*self.ns_argv(*args), check=check, timeout=timeout, input=input,
                  label=f"{' '.join(args)} on {self.netns}")  # fmt: skip

    def ns_argv(self, *args: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", "unshare", "--mount", "--propagation", "private",
                "--", "sh", "-c", netns_shell(), "sh", *args]  # fmt: skip

    def mailctl_argv(self, *args: str) -> list[str]:
        """`mailctl --confdir <own UCI dir> ...` as the router runs it."""
        env = ["env", f"PYTHONPATH={REPO}", f"SECUMAIL_IMAGE_CACHE={IMAGE_CACHE}"]
        return self.ns_argv(*env, sys.executable, "-m", "secumail.cli", "--confdir", self.confdir, *args)

    def configure(self) -> None:
        """Apply changed settings as secumaild's configure job does after a UCI change (render, check, swap,
        reload in the running container): the world runs no secumaild."""
        code = ("import sys\nfrom secumail.config import load_settings\n"
                "from secumail.appliance.lifecycle import configure\n"
                "configure(load_settings(sys.argv[1]))\n")  # fmt: skip
        self.in_ns("env", f"PYTHONPATH={REPO}", sys.executable, "-c", code, self.confdir, timeout=300)

    def attach(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside the appliance's container (as root there)."""
        return self.in_ns("lxc-attach", "-P", self.lxc_path, "-n", self.container, "--", *args, input=input,
                          check=check)  # fmt: skip

    def mailctl(self, *args: str, check: bool = True, timeout: float = 300,
                input: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        return sh(*self.mailctl_argv(*args), check=check, timeout=timeout, input=input,
                  label=f"mailctl {' '.join(args)} on {self.netns}")  # fmt: skip


SITE_A = Site("a.test", "smi-ra", f"{NET}.10", "10.246.0", "smia")
SITE_B = Site("b.test", "smi-rb", f"{NET}.20", "10.247.0", "smib")


def _zones(sites: tuple[Site, ...], spare: tuple[str, ...] = SPARE_ZONES) -> dict[str, str]:
    serial = int(time.time())

    def soa(zone: str) -> str:
        # negative answers cached 1 s: the appliances publish right after the resolver first asks
        return f"$ORIGIN {zone}.\n$TTL 60\n@ SOA ns.test. hostmaster.test. {serial} 3600 600 86400 1\n@ NS ns.test.\n"

    root = soa("test") + f"ns A {KNOT_IP}\nresolver A {RESOLVER_IP}\n{FORGER_NAME.split('.')[0]} A {FORGER[1]}\n"
    domains = [s.domain for s in sites] + list(spare)
    root += "".join(f"{d.split('.')[0]} NS ns.test.\n" for d in domains)
    reverse = soa(f"100.51.{NET.split('.')[0]}.in-addr.arpa")
    reverse += "".join(f"{s.wan_ip.rsplit('.', 1)[1]} PTR {s.fqdn}.\n" for s in sites)  # the ISP's PTR
    reverse += f"{FORGER[1].rsplit('.', 1)[1]} PTR {FORGER_NAME}.\n"
    zones = {"test": root, f"100.51.{NET.split('.')[0]}.in-addr.arpa": reverse}
    zones.update({d: soa(d) for d in domains})
    return zones


def _unbound_conf(workdir: str, zones: list[str]) -> str:
    stubs = "".join(f'stub-zone:\n    name: "{z}."\n    stub-addr: {KNOT_IP}\n' for z in zones)
    nodefault = "".join(f'    local-zone: "{z}." nodefault\n    domain-insecure: "{z}."\n' for z in zones)
    return f"""server:
    interface: {RESOLVER_IP}
    port: 53
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{workdir}"
    pidfile: "{workdir}/unbound.pid"
    logfile: "{workdir}/unbound.log"
    use-syslog: no
    verbosity: 1
    num-threads: 1
    access-control: {NET}.0/24 allow
    module-config: "iterator"
    cache-max-ttl: 5
    cache-max-negative-ttl: 1
    qname-minimisation: no
{nodefault}{stubs}"""


@dataclass
class Internet:
    sites: tuple[Site, ...] = (SITE_A, SITE_B)
    knot: Knot | None = None
    pebble: Pebble | None = None
    unbound: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)
    log: Callable[[str], None] = field(default=lambda line: None)

    @property
    def a(self) -> Site:
        return self.sites[0]

    @property
    def b(self) -> Site:
        return self.sites[1]

    # --- the pieces ------------------------------------------------------------------------------

    def _bridge(self) -> None:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        for address in (HOST_IP, KNOT_IP, RESOLVER_IP, CA_IP):
            sh("ip", "addr", "add", f"{address}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")

    def _host(self, netns: str, address: str, ifname: str) -> None:
        """A namespace whose `ifname` hangs on the internet bridge with `address`."""
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", f"{netns}w", "type", "veth", "peer", "name", ifname, "netns", netns)
        sh("ip", "link", "set", f"{netns}w", "master", BRIDGE, "up")
        sh("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", ifname)
        sh("ip", "-n", netns, "link", "set", ifname, "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        with open(f"/tmp/{netns}-resolv.conf", "w") as handle:  # for tools run in the namespace
            handle.write(f"nameserver {RESOLVER_IP}\n")

    def _router(self, site: Site) -> None:
        """WAN on the internet, forwarding on, port forwards and masquerade as fw4 sets them up."""
        self._host(site.netns, site.wan_ip, "wan")
        sh("ip", "netns", "exec", site.netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        ports = ", ".join(str(p) for p in PORTS)
        rules = f"""table ip smi_fw4 {{
    chain dstnat {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "wan" tcp dport {{ {ports} }} dnat to {site.container_ip}
    }}
    chain srcnat {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" ip saddr {site.subnet}.0/24 masquerade
    }}
}}
"""
        sh("ip", "netns", "exec", site.netns, "nft", "-f", "-", input=rules)

    def _dns(self) -> None:
        zones = _zones(self.sites)
        self.knot = Knot(os.path.join(WORK, "knot"), KNOT_IP, zones).start()
        workdir = os.path.join(WORK, "unbound")
        os.makedirs(workdir, exist_ok=True)
        conf = os.path.join(workdir, "unbound.conf")
        with open(conf, "w") as handle:
            handle.write(_unbound_conf(workdir, list(zones)))
        with open(os.path.join(workdir, "stderr.log"), "ab") as err:
            self.unbound = subprocess.Popen(["unbound", "-d", "-c", conf], stdout=err, stderr=subprocess.STDOUT)
        wait_until(lambda: self.resolve("ns.test", "A") == [KNOT_IP], timeout=20, proc=self.unbound,
                   what=f"Unbound to answer (see {workdir})")  # fmt: skip

    def _ca(self) -> None:
        from tests.integration.certs.world import start_pebble

        self.pebble = start_pebble(os.path.join(WORK, "pebble"), f"{RESOLVER_IP}:53", address=CA_IP)

    def ca_root(self) -> bytes:
        """PEM of the root pebble issues under in this run."""
        assert self.pebble is not None
        return self.pebble.root_pem()

    def https(self, url: str, *curl: str) -> tuple[int, str, str]:
        """(status, lower-cased headers, body) of `url` fetched by curl as a user on this internet would:
        its host resolved by the resolver (CNAMEs followed), trusting only the CA's root."""
        host = url.split("/")[2]
        address = self.resolve(host, "A")
        assert address, f"{host} does not resolve"
        root = os.path.join(WORK, "ca-root.pem")
        with open(root, "wb") as handle:
            handle.write(self.ca_root())
        done = sh("curl", "-sS", "--max-time", "10", "--cacert", root, "--resolve", f"{host}:443:{address[0]}",
                  "-D", "-", *curl, url, timeout=30)  # fmt: skip
        head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
        return int(head.split()[1]), head.lower(), body

    def _install(self, site: Site) -> float:
        os.makedirs(site.confdir, exist_ok=True)
        with open(os.path.join(site.confdir, "mailserver"), "w", encoding="utf-8") as handle:
            handle.write(site.uci())
        assert self.knot is not None
        self.knot.credentials_file(site.credentials)
        with open(site.mailctl_script, "w", encoding="utf-8") as handle:
            handle.write(f'#!/bin/sh\nexec {shlex.join(site.mailctl_argv())} "$@"\n')
        os.chmod(site.mailctl_script, 0o700)
        began = time.monotonic()
        site.mailctl("install", timeout=600)
        # A Linux bridge takes the lowest MAC of its ports unless one is set; OpenWrt's netifd sets
        # it, ensure_bridge does not (see tests/integration/daemon/test_container.py).
        mac = f"02:53:4d:00:{int(site.subnet.split('.')[1]):02x}:01"
        site.in_ns("ip", "link", "set", site.bridge, "address", mac)
        for name in ("alice", "bob", "postmaster"):
            site.mailctl("user", "add", site.user(name), "--password-stdin", input=PASSWORD + "\n")
        site.mailctl("dns-setup")
        site.mailctl("ssl-setup")
        return time.monotonic() - began

    # --- up and down -----------------------------------------------------------------------------

    def up(self) -> None:
        began = time.monotonic()
        self.down()
        os.makedirs(WORK, exist_ok=True)  # searchable: the unprivileged containers' rootfs are below it
        os.makedirs(os.path.join(WORK, "knot"), mode=0o700)  # its config holds the TSIG secret
        self._bridge()
        self._dns()
        self._ca()
        for site in self.sites:
            self._router(site)
        self._host(FORGER[0], FORGER[1], "eth0")
        self.timings["network"] = time.monotonic() - began
        self.log("internet up: bridge, Knot, Unbound, routers; installing the appliances")
        with ThreadPoolExecutor(len(self.sites)) as pool:  # the two installs side by side
            for site, seconds in zip(self.sites, pool.map(self._install, self.sites)):
                self.timings[f"install {site.domain}"] = seconds
        for site in self.sites:
            wait_until(lambda site=site: self.resolve(site.domain, "MX") == [f"10 {site.fqdn}."], timeout=20,
                       what=f"the resolver to answer the MX of {site.domain}")  # fmt: skip
        self.timings["up"] = time.monotonic() - began

    def down(self) -> None:
        """Remove everything this world makes (what exists of it): safe to call at any point."""
        for site in self.sites:
            defined = os.path.isdir(os.path.join(site.lxc_path, site.container))
            if defined and os.path.exists(f"/run/netns/{site.netns}"):
                with contextlib.suppress(Exception):
                    site.in_ns("lxc-stop", "-P", site.lxc_path, "-n", site.container, "-k", check=False, timeout=30)
                with contextlib.suppress(Exception):
                    site.in_ns("lxc-destroy", "-P", site.lxc_path, "-n", site.container, check=False, timeout=30)
        self._down_isp()
        for netns in [s.netns for s in self.sites] + [FORGER[0]]:
            sh("ip", "netns", "del", netns, check=False)
            sh("ip", "link", "del", f"{netns}w", check=False)
            with contextlib.suppress(OSError):
                os.unlink(f"/tmp/{netns}-resolv.conf")
        terminate(self.unbound)
        self.unbound = None
        if self.pebble is not None:
            self.pebble.stop()
            self.pebble = None
        if self.knot is not None:
            self.knot.stop()
            self.knot = None
        for pidfile in (os.path.join(WORK, "unbound", "unbound.pid"),):  # a killed run's Unbound
            with contextlib.suppress(OSError, ValueError):
                with open(pidfile) as handle:
                    pid = int(handle.read().strip())
                if "unbound" in open(f"/proc/{pid}/cmdline").read():  # noqa: SIM115
                    os.kill(pid, 15)
        sh("ip", "link", "del", BRIDGE, check=False)
        shutil.rmtree(WORK, ignore_errors=True)

    # --- optional parts and what an ISP does to a line --------------------------------------------

    @contextlib.contextmanager
    def isp(self) -> Iterator[Isp]:
        """The ISP's smarthost at ISP_IP on the internet bridge, with its DNS (smtp.isp.test A and PTR,
        the SPF of isp.test that customers include); all of it removed on exit."""
        from tests.integration.lxcworld import lxc_world

        reverse = f"100.51.{NET.split('.')[0]}.in-addr.arpa"
        records = [("test", smarthost.HOSTNAME.removesuffix(".test"), "A", ISP_IP),
                   ("test", ISP_DOMAIN.removesuffix(".test"), "TXT", f'"v=spf1 ip4:{ISP_IP} -all"'),
                   (reverse, ISP_IP.rsplit(".", 1)[1], "PTR", f"{smarthost.HOSTNAME}.")]  # fmt: skip
        began = time.monotonic()
        with lxc_world(name=ISP_NAME, bridge=BRIDGE, subnet=NET, host_octet=int(ISP_IP.rsplit(".", 1)[1]),
                       memory_mb=192) as world:  # fmt: skip
            try:
                self._update(records, add=True)
                smarthost.configure(world.container, hold=False, resolver=RESOLVER_IP)
                world.wait_port(587, timeout=30)
                self.timings["isp"] = time.monotonic() - began
                yield Isp(world)
            finally:
                # best effort: after Ctrl-C in a terminal knotd got the signal too, and its zones go with it
                with contextlib.suppress(Exception):
                    self._update(records, add=False)

    @staticmethod
    def _down_isp() -> None:
        """The smarthost a killed run left (its own lxc_world cleans up after a normal run)."""
        from tests.integration.lxcworld import WORK_ROOT

        lxc_path = os.path.join(WORK_ROOT, ISP_NAME, "lxc")
        if os.path.isdir(os.path.join(lxc_path, ISP_NAME)):
            sh("lxc-stop", "-P", lxc_path, "-n", ISP_NAME, "-k", check=False, timeout=30)
            sh("lxc-destroy", "-P", lxc_path, "-n", ISP_NAME, check=False, timeout=30)
            shutil.rmtree(os.path.join(WORK_ROOT, ISP_NAME), ignore_errors=True)

    def _update(self, records: list[tuple[str, str, str, str]], *, add: bool) -> None:
        """Add (or delete) records in Knot by a TSIG-signed update, as the ISP's own DNS would hold them."""
        import dns.query
        import dns.tsigkeyring
        import dns.update

        assert self.knot is not None
        keyring = dns.tsigkeyring.from_text({self.knot.tsig_name: self.knot.secret})
        for zone in sorted({r[0] for r in records}):
            update = dns.update.Update(zone, keyring=keyring, keyalgorithm="hmac-sha256")
            for _zone, name, rtype, value in (r for r in records if r[0] == zone):
                if add:
                    update.replace(name, 60, rtype, value)
                else:
                    update.delete(name, rtype)
            rcode = dns.query.tcp(update, KNOT_IP, timeout=5).rcode()
            if rcode != 0:
                raise RuntimeError(f"Knot refused the update of {zone}: rcode {rcode}")

    @contextlib.contextmanager
    def block_port25(self, site: Site) -> Iterator[None]:
        """Outbound TCP 25 leaving `site`'s WAN dropped (no answer, as most ISPs do): from the router
        itself and from the container behind it. Lifted on exit."""
        rules = """table ip smi_isp25 {
    chain out {
        type filter hook postrouting priority filter; policy accept;
        oifname "wan" tcp dport 25 counter drop
    }
}
"""
        sh("ip", "netns", "exec", site.netns, "nft", "-f", "-", input=rules)
        try:
            yield
        finally:
            sh("ip", "netns", "exec", site.netns, "nft", "delete", "table", "ip", "smi_isp25", check=False)

    def dropped_port25(self, site: Site) -> int:
        """Packets the port-25 block dropped so far (the counter of block_port25's rule)."""
        out = sh("ip", "netns", "exec", site.netns, "nft", "list", "table", "ip", "smi_isp25").stdout
        found = re.search(r"counter packets (\d+)", out)
        return int(found.group(1)) if found else 0

    def move_wan(self, site: Site, address: str) -> Site:
        """A new lease: the router's WAN gets `address` instead of its current one (the port forwards
        and the masquerade follow by themselves: they name the interface). Returns the moved site."""
        shown = sh("ip", "-n", site.netns, "-4", "-o", "addr", "show", "dev", "wan").stdout.split()
        old = shown[shown.index("inet") + 1].split("/")[0]
        sh("ip", "-n", site.netns, "addr", "flush", "dev", "wan")
        sh("ip", "-n", site.netns, "addr", "add", f"{address}/24", "dev", "wan")
        # The old address leads nowhere now: others forget its MAC (else the router, whose port
        # forwards name the interface, not the address, would still take what reaches that MAC).
        sh("ip", "neigh", "flush", "to", old, "dev", BRIDGE, check=False)
        for netns, ifname in [(s.netns, "wan") for s in self.sites if s.netns != site.netns] + [(FORGER[0], "eth0")]:
            sh("ip", "-n", netns, "neigh", "flush", "to", old, "dev", ifname, check=False)
        return dataclasses.replace(site, wan_ip=address)

    # --- what tests use --------------------------------------------------------------------------

    def forger_send(self, site: Site, sender: str, rcpt: str, token: str) -> None:
        """The forger host delivers straight to `site`'s MX (port 25 at its WAN) claiming `sender`."""
        code, said = self.forger_try(site, sender, rcpt, token)
        if code != 250:
            raise RuntimeError(f"the forger's delivery to {site.wan_ip} was refused: {code} {said}")

    def forger_try(self, site: Site, sender: str, rcpt: str, token: str) -> tuple[int, str]:
        """Like forger_send, but the server's final answer: (250, '') when accepted, else the code and
        text of the refusal (at whichever SMTP stage it came). The message is well formed (Date,
        Message-ID): a receiver's spam score alone does not give the forgery away."""
        from email.utils import formatdate

        message = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: Meeting notes {token}\r\n"
                   f"Date: {formatdate()}\r\nMessage-ID: <{token}@{sender.rpartition('@')[2]}>\r\n\r\n"
                   f"Hello,\r\n\r\nthe notes of today's meeting are below.\r\n\r\ntoken {token}\r\n")  # fmt: skip
        code = ("import smtplib, sys\n"
                "try:\n"
                "    with smtplib.SMTP(sys.argv[1], 25, local_hostname=sys.argv[4], timeout=30) as s:\n"
                "        s.sendmail(sys.argv[2], [sys.argv[3]], sys.stdin.read())\n"
                "    print(250)\n"
                "except smtplib.SMTPRecipientsRefused as exc:\n"
                "    (c, m), = exc.recipients.values(); print(c, m.decode(errors='replace'))\n"
                "except smtplib.SMTPResponseException as exc:\n"
                "    print(exc.smtp_code, exc.smtp_error.decode(errors='replace'))\n")  # fmt: skip
        done = sh("ip", "netns", "exec", FORGER[0], sys.executable, "-c", code, site.wan_ip, sender, rcpt,
                  FORGER_NAME, input=message, label=f"the forger's delivery to {site.wan_ip}")  # fmt: skip
        number, _, said = done.stdout.strip().partition(" ")
        return int(number), said

    def resolver(self):
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [RESOLVER_IP]
        resolver.lifetime = 5
        return resolver

    def resolve(self, name: str, rtype: str) -> list[str]:
        """What the internet's resolver answers (sorted texts), [] for none."""
        import dns.resolver

        try:
            answer = self.resolver().resolve(name, rtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return sorted(r.to_text() for r in answer)


@dataclass
class Isp:
    """The running smarthost (see Internet.isp)."""

    world: LxcWorld
    ip: str = ISP_IP
    hostname: str = smarthost.HOSTNAME
    spf_domain: str = ISP_DOMAIN

    @property
    def container(self):
        return self.world.container


@contextlib.contextmanager
def internet(log: Callable[[str], None] = lambda line: None) -> Iterator[Internet]:
    """The world up (see module doc), torn down on exit even on failure."""
    reason = apt.install(APT_PACKAGES)
    if reason:
        raise RuntimeError(reason)
    net = Internet(log=log)
    try:
        net.up()
        yield net
    finally:
        net.down()
