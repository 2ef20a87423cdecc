"""A mail container with the spam filter and postscreen on, a Knot it resolves through, and a stranger.

Own world: container smprot on bridge smprot0 (10.242.0.0/24). The container's only resolver is a
Knot on the bridge address (10.242.0.1:53) serving, as an Internet would:
  - stranger.test: the outside sender's domain (A/MX for mx.stranger.test, SPF, DMARC p=none) and
    the reverse zone of the bridge subnet (PTR of the stranger's addresses);
  - strict.test: a domain publishing SPF -all and DMARC p=reject (the light path's tests);
  - dnsbl.test: the test blocklist postscreen asks (protection.dnsbl 'dnsbl.test*3').
The stranger is a network namespace on the bridge with seven addresses: LISTED (.50, in dnsbl.test
unless a test takes it out), FRESH (.51, never listed), UNSEEN (.52, never listed and used by one
test only, so postscreen has no cached pass for it), BURST (.53, the message rate test's sender),
TALKER (.54, talks before the banner: postscreen's pregreet test), CROWD (.55, the connection
rate test's sender) and INTRUDER (.56, fails to log in: Dovecot's penalty for it must not slow the
other tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator

import pytest

from secumail.appliance import datadir, ownership, spec
from secumail.config.settings import SPAM_FILTER_MEMORY_MB
from secumail.mail import firewall
from tests.integration.lxcworld import lxc_world
from tests.support.settings import mail_settings as make_settings

DATA = "/var/tmp/secumail-protection-test/data"
NAME, BRIDGE, SUBNET = "smprot", "smprot0", "10.242.0"
HOST_IP = f"{SUBNET}.1"
NS, VETH_HOST, VETH_NS = "smprotout", "smproto0", "smproto1"
LISTED, FRESH, UNSEEN, BURST = f"{SUBNET}.50", f"{SUBNET}.51", f"{SUBNET}.52", f"{SUBNET}.53"
TALKER, CROWD, INTRUDER = f"{SUBNET}.54", f"{SUBNET}.55", f"{SUBNET}.56"
SENDERS = (LISTED, FRESH, UNSEEN, BURST, TALKER, CROWD, INTRUDER)
USER_RECIPIENTS_PER_HOUR = 5  # protection.user_recipients_per_hour of this world (test_rate_limits.py)
# The limit `container.memory auto` gives the spam filter: the tests prove the default works.
MEMORY_MB = int(os.environ.get("SM_PROT_MEMORY", str(SPAM_FILTER_MEMORY_MB)))
PASSWORDS = {"alice@example.org": "alice-secret-1", "bob@example.org": "bob-secret-12"}


def _reverse(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


class Knot:
    """knotd on HOST_IP:53 serving the zones above; `start(listed=...)` (re)starts it with that listing."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def _zones(self, listed: tuple[str, ...]) -> dict[str, str]:
        serial = int(time.time())
        reverse_zone = ".".join(reversed(SUBNET.split("."))) + ".in-addr.arpa"

        def head(z: str) -> str:
            return f"$TTL 5\n@ SOA ns.{z}. hostmaster.{z}. {serial} 3600 600 86400 5\n@ NS ns.{z}.\nns A {HOST_IP}\n"

        return {
            "stranger.test": head("stranger.test") + textwrap.dedent(f"""\
                @ MX 10 mx
                @ TXT "v=spf1 ip4:{SUBNET}.48/28 -all"
                _dmarc TXT "v=DMARC1; p=none"
                mx A {LISTED}
                mx2 A {FRESH}
                mx3 A {UNSEEN}
                mx4 A {BURST}
                mx5 A {TALKER}
                mx6 A {CROWD}
                mx7 A {INTRUDER}
                """),
            # a domain whose mail never comes from these addresses and that asks for rejection
            "strict.test": head("strict.test") + textwrap.dedent("""\
                @ MX 10 mx.stranger.test.
                @ TXT "v=spf1 -all"
                _dmarc TXT "v=DMARC1; p=reject"
                """),
            "dnsbl.test": head("dnsbl.test") + "".join(
                f"{_reverse(ip)} A 127.0.0.2\n{_reverse(ip)} TXT \"listed for the test\"\n" for ip in listed),
            reverse_zone: head(reverse_zone) + "".join(  # mx, mx2 ... mx7.stranger.test, as in SENDERS
                f"{ip.rsplit('.', 1)[1]} PTR mx{n if n > 1 else ''}.stranger.test.\n"
                for n, ip in enumerate(SENDERS, 1)),
        }

    def start(self, listed: tuple[str, ...] = (LISTED,)) -> None:
        self.stop()
        zones = self._zones(listed)
        os.makedirs(os.path.join(self.workdir, "zones"), exist_ok=True)
        for name, text in zones.items():
            with open(os.path.join(self.workdir, "zones", f"{name}.zone"), "w") as handle:
                handle.write(f"$ORIGIN {name}.\n{text}")
        conf = os.path.join(self.workdir, "knot.conf")
        zone_lines = "".join(f"  - domain: {name}\n" for name in zones)
        with open(conf, "w") as handle:
            handle.write(textwrap.dedent(f"""\
                server:
                    rundir: "{self.workdir}"
                    listen: {HOST_IP}@53
                    udp-workers: 1
                    tcp-workers: 1
                    background-workers: 1
                database:
                    storage: "{self.workdir}/db"
                log:
                  - target: stderr
                    any: warning
                template:
                  - id: default
                    storage: "{self.workdir}/zones"
                    file: "%s.zone"
                    zonefile-sync: -1
                    journal-content: none
                zone:
                """) + zone_lines)
        log = open(os.path.join(self.workdir, "knot.log"), "ab")  # noqa: SIM115 - held by knotd
        self.proc = subprocess.Popen(["knotd", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        import dns.message
        import dns.query

        while True:
            try:
                dns.query.udp(dns.message.make_query("dnsbl.test", "SOA"), HOST_IP, timeout=0.5)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    with open(log.name) as failed:
                        raise AssertionError(f"knotd did not start: {failed.read()[-500:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _remove_namespace() -> None:
    _ip("netns", "del", NS, check=False)
    _ip("link", "del", VETH_HOST, check=False)


@dataclasses.dataclass
class ProtectedWorld:
    lxc: object
    settings: object
    knot: Knot

    @property
    def ip(self) -> str:
        return self.lxc.ip

    def exec(self, args):
        return self.lxc.container.exec(args)

    def outside(self, code: str, timeout: float = 120, **values) -> dict:
        """Run Python `code` in the stranger's namespace with `values` as globals; it sets `out`."""
        script = "import json, smtplib, socket, ssl\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
        script += textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
        proc = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.splitlines()[-1])

    def learned(self) -> dict[str, int]:
        """Rspamd's learned counts per Bayes statfile, as `rspamc stat` shows them."""
        out = self.exec(["rspamc", "-h", "/run/rspamd-learn/controller.sock", "stat"]).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            if line.startswith("Statfile: "):
                symbol = line.split()[1]
                counts[symbol] = int(line.split("learned: ")[1].split(";")[0])
        return counts


def _wait_rspamd(world: ProtectedWorld, timeout: float = 90) -> None:
    """The milter socket exists and the controller answers (Rspamd loads its rules in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        res = world.exec(["rspamc", "-h", "/run/rspamd-learn/controller.sock", "stat"])
        if res.returncode == 0 and "Statfile" in res.stdout and world.exec(
                ["test", "-S", "/var/spool/postfix/rspamd/milter.sock"]).returncode == 0:  # fmt: skip
            return
        if time.monotonic() > deadline:
            log = world.exec(["tail", "-n", "30", "/var/log/rspamd.log"]).stdout
            raise AssertionError(f"Rspamd did not come up in {timeout} s: {res.stderr or res.stdout}\n{log}")
        time.sleep(1)


@contextlib.contextmanager
def protected_world(**protection: str) -> Iterator[ProtectedWorld]:
    """The world above, up with the spam filter on; `protection` options override this world's
    (bench/protection_throughput.py turns the rate limits off)."""
    from secumail.mail import accounts, deploy
    from secumail.mail.selfsigned import ensure_selfsigned

    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    os.makedirs(DATA)
    settings = make_settings(
        DATA, hostname="mail", container=NAME,
        protection={"dnsbl": ("dnsbl.test*3",), "test_patterns": "1",
                    "user_recipients_per_hour": str(USER_RECIPIENTS_PER_HOUR), **protection},
    )
    import dataclasses as dc
    import ipaddress

    settings = dc.replace(settings, container=dc.replace(
        settings.container, host_address=ipaddress.IPv4Interface(f"{HOST_IP}/24"),
        address=ipaddress.IPv4Interface(f"{SUBNET}.2/24"), nameservers=(HOST_IP,)))
    datadir.ensure_layout(settings)
    knot = Knot(tempfile.mkdtemp(prefix="secumail-protection-knot-"))
    _remove_namespace()

    def before_start(world) -> None:
        ownership.shift_data(settings, world.spec.idmap)
        with open(os.path.join(world.rootfs, "etc", "resolv.conf"), "w") as handle:
            handle.write(f"nameserver {HOST_IP}\noptions timeout:2 attempts:1\n")

    try:
        with lxc_world(name=NAME, bridge=BRIDGE, subnet=SUBNET, memory_mb=MEMORY_MB,
                       mounts=spec.data_mounts(DATA), masks=spec.data_masks(),
                       lxcpath=settings.container.lxc_path, before_start=before_start) as lxc:
            firewall.ensure_input_policy(BRIDGE)
            try:
                knot.start()
                _ip("netns", "add", NS)
                _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
                _ip("link", "set", VETH_NS, "netns", NS)
                _ip("link", "set", VETH_HOST, "master", BRIDGE, "up")
                for address in SENDERS:
                    _ip("netns", "exec", NS, "ip", "addr", "add", f"{address}/24", "dev", VETH_NS)
                _ip("netns", "exec", NS, "ip", "link", "set", VETH_NS, "up")
                _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")
                ensure_selfsigned(DATA, settings.main.fqdn)
                hand_over = ownership.ContainerRuntime(settings).hand_over
                try:
                    # The services start without the filter first, as on an appliance that had it off:
                    # turning it on must work with Dovecot already running on the old config.
                    off = dc.replace(settings, features=dc.replace(settings.features, spam_filter=False))
                    deploy.deploy(off, lxc.container, hand_over=hand_over)
                    deploy.deploy(settings, lxc.container, hand_over=hand_over)
                except Exception as exc:
                    logs = lxc.container.exec(["sh", "-c", "tail -n 20 /var/log/secumail-launch.log "
                                               "/var/log/rspamd.log /var/log/redis.log; ps aux"]).stdout
                    raise AssertionError(f"{exc}\n{logs}") from exc
                for address, password in PASSWORDS.items():
                    accounts.user_add(settings, address, password)
                lxc.wait_port(25, timeout=20)
                lxc.wait_port(143, timeout=20)
                world = ProtectedWorld(lxc, settings, knot)
                _wait_rspamd(world)
                yield world
            finally:
                with contextlib.suppress(Exception):
                    _remove_namespace()
                knot.stop()
                firewall.remove_input_policy(BRIDGE)
    finally:
        shutil.rmtree(knot.workdir, ignore_errors=True)
        shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)


@pytest.fixture(scope="session")
def protected() -> Iterator[ProtectedWorld]:
    with protected_world() as world:
        yield world
