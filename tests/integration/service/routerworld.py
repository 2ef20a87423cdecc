"""The whole appliance inside the router profile (tests/support/routerprofile.py): secumaild, every mailctl
and worker, the rpcd plugin and the LXC container share one 256 MiB, no-swap, half-a-core budget.

The steps a user's router goes through, each measured (kernel peak charge, sampled PSS peak, OOM kills):
install, idle, the mail round trip (SMTP in, IMAPS out), a full mesh backup of a maildir corpus, a
certificate issuance (pebble), a DNS apply (Knot, RFC 2136) and the LuCI status call. Used by
tests/integration/service/test_router_profile.py (small corpus) and bench/router_profile.py (20,000).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

from tests.integration.certs import world
from tests.integration.certs.site import Site
from tests.integration.lxcworld import _cleanup_stale, cache_dir
from tests.support import maildir
from tests.support.imapclient import imap_wait
from tests.support.luciplugin import Plugin, appliance_env
from tests.support.paths import REPO
from tests.support.procs import terminate
from tests.support.routerprofile import Profile, pss_kib, step

WORK = "/var/tmp/secumail-router-profile"
NAME, BRIDGE, SUBNET = "smrouter", "smrout0", "10.248.0"
IP = f"{SUBNET}.2"
PROFILE = "secumail-router"
USER, PASSWORD = f"alice@{world.ZONE}", "alice-router-pass"


class RouterAppliance:
    def __init__(self, servers: dict) -> None:
        self.profile = Profile(PROFILE)
        self.site = Site(
            WORK, servers,
            main={"domain": world.ZONE, "hostname": "mail", "data_path": f"{WORK}/data", "container": NAME},
            container={"lxc_path": f"{WORK}/lxc", "bridge": BRIDGE, "host_address": f"{SUBNET}.1/24",
                       "address": f"{IP}/24", "cgroup": PROFILE},
            # the light path: Rspamd needs 384 MiB (settings.SPAM_FILTER_MEMORY_MB), more than the whole budget
            features={"fail2ban": "0", "spam_filter": "0"},
            dns={"public_ipv4": "127.0.61.3"},  # what the certs world's zone already has for mail.
        )  # fmt: skip
        self.knot = servers["knot"]
        self.env = appliance_env(WORK, self.site.confdir, cache_dir())
        self.daemon: subprocess.Popen | None = None
        self.figures: dict = {}

    # -- running things inside the profile ---------------------------------------------------------------

    def mailctl(self, *args: str, stdin: str = "", timeout: float = 600) -> dict | list:
        """`mailctl --json ARGS` inside the profile; its JSON answer (an AssertionError if it fails)."""
        proc = subprocess.run([*self.profile.prefix(), sys.executable, "-m", "secumail.cli", "--json", *args],
                              input=stdin, capture_output=True, text=True, env=self.env, cwd=REPO,
                              timeout=timeout)  # fmt: skip
        answer = (proc.stderr + proc.stdout)[-2000:]
        assert proc.returncode == 0, f"mailctl {' '.join(args)} exited {proc.returncode}: {answer}"
        return json.loads(proc.stdout)

    def start_daemon(self) -> None:
        log = open(f"{WORK}/secumaild.log", "w")  # noqa: SIM115 - the daemon writes it until it stops
        self.daemon = subprocess.Popen([*self.profile.prefix(), sys.executable, "-m", "secumail.daemon",
                                        "--foreground", "--stderr"], env=self.env, cwd=REPO, stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while not os.path.exists(f"{WORK}/run/control.sock"):
            assert self.daemon.poll() is None, self.log()[-3000:]
            assert time.monotonic() < deadline, "secumaild did not open its control socket"
            time.sleep(0.1)

    def log(self) -> str:
        with open(f"{WORK}/secumaild.log", encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def container_pids(self) -> list[int]:
        """Processes of the container (in a cgroup below the profile's own)."""
        return [pid for pid in self.profile.pids() if self.profile.cgroup_of(pid) not in (self.profile.agent, "")]

    def init_cgroup(self) -> str:
        out = subprocess.run(["lxc-info", "-P", f"{WORK}/lxc", "-n", NAME, "-p", "-H"], capture_output=True,
                             text=True, check=True)  # fmt: skip
        return self.profile.cgroup_of(int(out.stdout.strip()))

    # -- the steps -----------------------------------------------------------------------------------------

    def install(self) -> dict:
        with step(self.profile, self.figures, "install"):
            result = self.mailctl("install")
        return result

    def idle(self, settle: float = 20) -> dict:
        """PSS of agent and container once nothing runs but the resident processes."""
        self.start_daemon()
        time.sleep(settle)  # the daemon's first reconcile and checks, the container's services settle
        pids = self.profile.pids()
        container = set(self.container_pids())
        agent = sum(pss_kib(pid) for pid in pids if pid not in container) / 1024
        inside = sum(pss_kib(pid) for pid in container) / 1024
        self.figures["idle"] = {"agent_pss_mib": round(agent, 1), "container_pss_mib": round(inside, 1),
                                "pss_mib": round(agent + inside, 1),
                                "charge_mib": round(self.profile.usage_mib(), 1)}  # fmt: skip
        return self.figures["idle"]

    def round_trip(self) -> bytes:
        self.mailctl("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
        token = uuid.uuid4().hex
        with step(self.profile, self.figures, "mail round trip"):
            with smtplib.SMTP(IP, 25, local_hostname="client.outside.test", timeout=30) as smtp:
                smtp.sendmail("someone@outside.test", [USER],
                              f"From: someone@outside.test\r\nTo: {USER}\r\nSubject: router {token}\r\n\r\n"
                              f"body {token}\r\n")  # fmt: skip
            message = imap_wait(IP, user=USER, password=PASSWORD, token=token, timeout=60)
        return message

    def backup(self, messages: int, corpus_cache: str | None = None) -> dict:
        """A full mesh backup of data_path with a corpus of `messages` messages added to its mail."""
        mail = f"{WORK}/data/mail"
        source = corpus_cache or tempfile.mkdtemp(prefix="router-corpus-", dir="/var/tmp")
        if not os.path.isdir(os.path.join(source, "mail")):
            maildir.create(source, messages=messages, users=20, seed=1)
        for domain in os.listdir(os.path.join(source, "mail")):
            shutil.copytree(os.path.join(source, "mail", domain), os.path.join(mail, domain), dirs_exist_ok=True)
        if corpus_cache is None:
            shutil.rmtree(source, ignore_errors=True)
        with step(self.profile, self.figures, "mesh backup"):
            result = self.mailctl("mesh", "backup", timeout=3600)
        return result

    def certificate(self) -> dict:
        with step(self.profile, self.figures, "certificate issuance"):
            result = self.mailctl("ssl-setup", "--force")
        return result

    def dns_apply(self) -> dict:
        with step(self.profile, self.figures, "DNS apply"):
            result = self.mailctl("dns-setup")
        return result

    def luci_status(self) -> dict:
        plugin = Plugin(self.env, prefix=tuple(self.profile.prefix()))
        with step(self.profile, self.figures, "LuCI status call"):
            reply = plugin.call("getStatus")
        return reply.data

    # -- set up / tear down --------------------------------------------------------------------------------

    def teardown(self) -> None:
        terminate(self.daemon, 30)
        with contextlib.suppress(Exception):
            subprocess.run([sys.executable, "-m", "secumail.cli", "stop"], env=self.env, cwd=REPO,
                           capture_output=True, timeout=120)  # fmt: skip
        _cleanup_stale(NAME, f"{WORK}/lxc", BRIDGE)
        from secumail.container import network

        if network.bridge_exists(BRIDGE):
            with contextlib.suppress(Exception):
                network.remove_bridge(BRIDGE)
        self.profile.remove()
        self.knot.restart_fresh()  # the zone as the certs world's other tests expect it


@contextlib.contextmanager
def router_appliance(servers: dict) -> Iterator[RouterAppliance]:
    """A RouterAppliance with its profile set up, torn down (and its work dir removed) on exit."""
    _cleanup_stale(NAME, f"{WORK}/lxc", BRIDGE)  # what a killed earlier run left: same names
    Profile(PROFILE).remove()
    shutil.rmtree(WORK, ignore_errors=True)
    appliance = RouterAppliance(servers)
    try:
        with appliance.profile:
            yield appliance
    finally:
        appliance.teardown()
        shutil.rmtree(WORK, ignore_errors=True)
