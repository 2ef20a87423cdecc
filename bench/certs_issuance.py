"""Issuance time against one real pebble + Knot: secumail (mailctl ssl-setup) beside certbot and lego.

Each client gets a fresh account first (not timed), then RUNS timed issuances
of mail.example.test (EC P-256, DNS-01 through RFC 2136 with TSIG
hmac-sha256). Also: RSS of a resident-agent-like parent before and after an
issuance through the worker, and of a process that imports the ACME stack.
Needs root (Knot on port 53) and apt packages knot, pebble, certbot,
python3-certbot-dns-rfc2136, lego. `--write` updates bench/RESULTS.md.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, REPO)
sys.path.insert(0, BENCH)

from tests.integration.certs import world  # noqa: E402
from tests.integration.certs.site import Site  # noqa: E402

RUNS = int(os.environ.get("CERTS_BENCH_RUNS", "5"))
NAME = "mail.example.test"


def timed(argv, env, cwd=None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {(result.stderr or result.stdout)[-400:]}")
    return took


def certbot_runs(tmp: str, knot, pebble) -> list[float]:
    ini = os.path.join(tmp, "certbot.ini")
    fd = os.open(ini, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"dns_rfc2136_server = {world.DNS_ADDR}\ndns_rfc2136_port = 53\n"
                     f"dns_rfc2136_name = {world.TSIG_NAME}\ndns_rfc2136_secret = {knot.secret}\n"
                     "dns_rfc2136_algorithm = HMAC-SHA256\n")  # fmt: skip
    base = ["certbot", "--config-dir", f"{tmp}/cb/etc", "--work-dir", f"{tmp}/cb/work", "--logs-dir", f"{tmp}/cb/log",
            "--non-interactive", "--server", pebble.directory]  # fmt: skip
    env = dict(os.environ, REQUESTS_CA_BUNDLE=pebble.ca_file)
    timed([*base, "register", "--agree-tos", "--register-unsafely-without-email"], env)
    cmd = [*base, "certonly", "--dns-rfc2136", "--dns-rfc2136-credentials", ini,
           # certbot does not check propagation, it sleeps this long (default 60 s); Knot is ready at once
           "--dns-rfc2136-propagation-seconds", "0", "--key-type", "ecdsa", "--elliptic-curve", "secp256r1",
           "--force-renewal", "-d", NAME]  # fmt: skip
    return [timed(cmd, env) for _ in range(RUNS)]


def lego_runs(tmp: str, knot, pebble) -> list[float]:
    env = dict(os.environ, LEGO_CA_CERTIFICATES=pebble.ca_file, RFC2136_NAMESERVER=f"{world.DNS_ADDR}:53",
               RFC2136_TSIG_KEY=f"{world.TSIG_NAME}.", RFC2136_TSIG_SECRET=knot.secret,
               RFC2136_TSIG_ALGORITHM="hmac-sha256.")  # fmt: skip
    cmd = ["lego", "--server", pebble.directory, "--email", "bench@example.test", "--accept-tos", "--path",
           f"{tmp}/lego", "--key-type", "ec256", "--dns", "rfc2136", "--dns.disable-cp",
           "--dns.resolvers", f"{world.DNS_ADDR}:53",
           "--domains", NAME, "run"]  # fmt: skip
    timed(cmd, env)  # account registration + first certificate, not timed
    return [timed(cmd, env) for _ in range(RUNS)]


def secumail_runs(tmp: str, servers) -> tuple[list[float], Site]:
    site = Site(os.path.join(tmp, "secumail"), servers)
    env = dict(os.environ, PYTHONPATH=REPO)
    argv = [sys.executable, "-m", "secumail.cli", "--confdir", site.confdir, "ssl-setup", "--force"]
    timed(argv, env)  # account registration, not timed
    return [timed(argv, env) for _ in range(RUNS)], site


def rss_probe(site: Site) -> str:
    code = (
        "import sys\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'):\n"
        "            return int(line.split()[1])\n"
        "from secumail.config import load_settings\n"
        "from secumail.certs import renewal, runner\n"
        f"s = load_settings({site.confdir!r}, {site.root + '/save'!r})\n"
        "before = rss()\n"
        "runner.obtain(s, reload=None)\n"
        "after = rss()\n"
        "heavy = [m for m in ('acme', 'josepy', 'cryptography', 'requests', 'dns') if m in sys.modules]\n"
        "print(before, after, ','.join(heavy) or '-')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO), check=True).stdout.split()  # fmt: skip
    heavy = subprocess.run([sys.executable, "-c", "import acme.client, josepy, cryptography.x509, dns.query, requests;"
                            "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    bare = subprocess.run([sys.executable, "-c", "print([l for l in open('/proc/self/status') "
                           "if l.startswith('VmRSS')][0].split()[1])"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    return (f"| parent (settings + secumail.certs.renewal/runner loaded) before an issuance "
            f"| {int(out[0]) / 1024:.1f} MiB |\n"
            f"| same parent after the issuance (worker exited) | {int(out[1]) / 1024:.1f} MiB "
            f"(heavy modules in parent: {out[2]}) |\n"
            f"| a process that imports acme + josepy + cryptography + dnspython + requests "
            f"| {int(heavy) / 1024:.1f} MiB |\n"
            f"| bare `python3` | {int(bare) / 1024:.1f} MiB |")  # fmt: skip


def ms(times) -> str:
    values = sorted(t * 1000 for t in times)
    return f"median {statistics.median(values):.0f} ms (min {values[0]:.0f}, max {values[-1]:.0f}, n={len(values)})"


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root (Knot listens on port 53)")
    reason = world.ensure_packages(("knotd", "pebble", "certbot", "lego"))
    if reason:
        raise SystemExit(reason)
    if subprocess.run(["dpkg", "-s", "python3-certbot-dns-rfc2136"], capture_output=True).returncode != 0:
        raise SystemExit("apt-get install -y python3-certbot-dns-rfc2136")
    tmp = tempfile.mkdtemp(prefix="certs-bench-")
    knot = world.start_knot(os.path.join(tmp, "knot"))
    pebble = world.start_pebble(os.path.join(tmp, "pebble"), f"{world.DNS_ADDR}:53")
    try:
        servers = {"knot": knot, "pebble": pebble}
        ours, site = secumail_runs(tmp, servers)
        certbot = certbot_runs(tmp, knot, pebble)
        lego = lego_runs(tmp, knot, pebble)
        rss = rss_probe(site)
    finally:
        pebble.stop()
        knot.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    best = min(statistics.median(certbot), statistics.median(lego))
    ratio = statistics.median(ours) / best
    body = "\n".join([
        "One issuance of mail.example.test (EC P-256, DNS-01 via RFC 2136 + TSIG hmac-sha256) against pebble "
        "2.4 (`PEBBLE_VA_NOSLEEP=1`, no authz reuse) and Knot on loopback; whole command, account already "
        "registered.",
        "",
        "| client | wall time per issuance |",
        "| --- | --- |",
        "| `mailctl ssl-setup --force` (worker process; propagation checked on the authoritative server) "
        f"| {ms(ours)} |",
        f"| `certbot certonly --dns-rfc2136` (propagation-seconds 0: no check) | {ms(certbot)} |",
        "| `lego --dns rfc2136 --dns.disable-cp run` (no propagation check: its check resolves NS names "
        f"through the system resolver) | {ms(lego)} |",
        "",
        f"secumail / faster of certbot and lego = {ratio:.2f} (goal ≤ 1).",
        "",
        "| resident memory | RSS |",
        "| --- | --- |",
        rss,
    ])  # fmt: skip
    print(body)
    if "--write" in sys.argv:
        from results import update_section

        update_section("certs-issuance", "Certificate issuance (ACME DNS-01)", body)


if __name__ == "__main__":
    main()
