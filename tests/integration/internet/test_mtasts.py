"""MTA-STS served by B and honoured by A on the simulated internet (issue 15, item 5).

B (b.test) sets dns.mta_sts enforce: dns-setup publishes `_mta-sts.b.test` and `mta-sts.b.test`,
ssl-setup puts mta-sts.b.test on the certificate (DNS-01 at pebble), and lighttpd in B's container
serves the policy on 443 through B's router. A (a.test) sets features.mta_sts_outbound: its Postfix
asks postfix-mta-sts-resolver, which fetches B's policy over HTTPS, so A delivers to B only over TLS
with a certificate that verifies for mail.b.test. The CA of this internet (pebble) is a public CA
here: its root goes into A's container's trust store, as a real CA's root is in ca-certificates.

The world is shared with the other tests of this directory: everything changed here is undone at the
end (B back to mta_sts none with its CA certificate, A without the resolver).
"""

from __future__ import annotations

import json

import pytest

from tests.support.inetmail import fetch, submit
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

POLICY_PATH = "/.well-known/mta-sts.txt"
V1_FILES = ("usage_in_bytes", "max_usage_in_bytes", "limit_in_bytes")  # current, peak, limit (cgroup v1)


def _mailctl_json(site, *args: str):
    return json.loads(site.mailctl("--json", *args).stdout)


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read().strip()


def _cgroup_memory(site) -> dict[str, int]:
    """The container's memory cgroup, read on the host (v1 or v2): current and peak bytes (the peak since
    the container started), the limit, and how many processes the kernel OOM-killed in it."""
    pid = site.in_ns("lxc-info", "-P", site.lxc_path, "-n", site.container, "-p", "-H").stdout.strip()
    lines = [line.split(":", 2) for line in _read(f"/proc/{pid}/cgroup").splitlines()]
    v1 = [path for _, controllers, path in lines if "memory" in controllers.split(",")]
    if v1:
        base, path, names, oom = "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory" + v1[0], V1_FILES, "oom_control"
    else:
        unified = next(path for _, controllers, path in lines if controllers == "")
        base, path, names, oom = "/sys/fs/cgroup", "/sys/fs/cgroup" + unified, ("current", "peak", "max"), "events"
    limit = 1 << 50  # v1 writes "no limit" as a huge number, v2 as "max"
    while path != base and int(_read(f"{path}/memory.{names[2]}").replace("max", str(limit))) >= limit:
        path = path.rsplit("/", 1)[0]  # init may sit in a leaf below the limited cgroup
    values = {key: int(_read(f"{path}/memory.{name}")) for key, name in zip(("current", "peak", "max"), names)}
    events = dict(line.split() for line in _read(f"{path}/memory.{oom}").splitlines())
    values["oom_kill"] = int(events.get("oom_kill", 0))
    return values


def _rss_kib(site, pidfile: str) -> int:
    """Resident memory of the daemon whose pid is in `pidfile` inside the container."""
    status = site.attach("sh", "-c", f'cat "/proc/$(cat {pidfile})/status"').stdout
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


@pytest.fixture(scope="module")
def sts(inet):
    a, b = inet.a, inet.b
    # pebble's root is a public CA's here: A's Postfix and resolver trust it like any in ca-certificates
    a.attach("sh", "-c", "cat > /usr/local/share/ca-certificates/simulated-internet.crt && update-ca-certificates",
             input=inet.ca_root().decode())  # fmt: skip
    b.mailctl("config", "set", "mailserver.dns.mta_sts", "enforce")
    b.configure()
    b.mailctl("dns-setup")
    b.mailctl("ssl-setup", "--force")
    wait_until(lambda: inet.resolve(f"mta-sts.{b.domain}", "CNAME") == [f"{b.fqdn}."], timeout=30,
               what="the resolver to answer mta-sts.b.test")  # fmt: skip
    a.mailctl("config", "set", "mailserver.features.mta_sts_outbound", "1")
    a.configure()
    a.mailctl("restart")  # the container's memory limit grows by the resolver's share (container.memory auto)
    try:
        yield a, b
    finally:
        b.mailctl("config", "set", "mailserver.ssl.type", "acme")
        b.mailctl("config", "set", "mailserver.dns.mta_sts", "none")
        b.configure()
        b.mailctl("dns-setup")
        a.mailctl("config", "set", "mailserver.features.mta_sts_outbound", "0")
        a.configure()


def test_the_policy_is_served_over_https_with_the_appliance_certificate(inet, sts):
    """A real HTTPS client trusting only the CA's root fetches B's policy at the name the resolver gives."""
    _a, b = sts
    assert inet.resolve(b.fqdn, "A") == [b.wan_ip]  # mta-sts.b.test is a CNAME to it (asserted by the fixture)
    status, head, body = inet.https(f"https://mta-sts.{b.domain}{POLICY_PATH}")
    assert status == 200 and "content-type: text/plain" in head, head
    policy = dict(line.split(": ", 1) for line in body.splitlines() if line)
    assert policy["version"] == "STSv1" and policy["mode"] == "enforce" and policy["mx"] == b.fqdn, policy
    assert int(policy["max_age"]) > 0
    txt = inet.resolve(f"_mta-sts.{b.domain}", "TXT")
    assert len(txt) == 1 and txt[0].startswith('"v=STSv1; id='), txt
    # only the policy: another path, or the mail host's own name, gets nothing
    assert inet.https(f"https://mta-sts.{b.domain}/.well-known/")[0] in (403, 404)
    assert inet.https(f"https://{b.fqdn}{POLICY_PATH}")[0] in (403, 404)
    assert "policy enforce, served on 443, answering" in b.mailctl("status").stdout


def test_a_delivers_to_b_over_verified_tls_under_enforce(inet, sts):
    a, b = sts
    token = submit(a, a.user("alice"), b.user("bob"))
    fetch(b, b.user("bob"), token)
    log = "\n".join(a.mailctl("logs", "400").stdout.splitlines())
    # "Verified": the certificate was checked against the MX name (policy level secure), not only encrypted
    assert f"Verified TLS connection established to {b.fqdn}" in log, log[-3000:]
    assert "checks other domains' policies" in a.mailctl("status").stdout


def test_a_wrong_certificate_at_b_keeps_the_mail_queued_at_a_until_fixed(inet, sts):
    a, b = sts
    b.mailctl("config", "set", "mailserver.ssl.type", "selfsigned")
    b.mailctl("ssl-setup", "--force")
    token = submit(a, a.user("alice"), b.user("bob"))

    def deferred():
        rows = _mailctl_json(a, "queue", "list")
        return next((row for row in rows if b.user("bob") in row["recipients"] and row.get("reason")), None)

    row = wait_until(deferred, timeout=60, interval=1, what="A to defer the message to B")
    assert "not verified" in row["reason"].lower() or "verification failed" in row["reason"].lower(), row
    shown = a.mailctl("queue", "list").stdout
    assert row["queue_id"] in shown and row["reason"][:40] in shown, shown
    with pytest.raises(AssertionError):  # not delivered in clear or to the wrong certificate
        fetch(b, b.user("bob"), token, timeout=2)

    b.mailctl("config", "set", "mailserver.ssl.type", "acme")
    b.mailctl("ssl-setup", "--force")
    a.mailctl("queue", "flush")
    fetch(b, b.user("bob"), token, timeout=60)


def test_the_resolver_fits_in_what_container_memory_auto_gives(inet, sts):
    """A restarted with the resolver on (Rspamd, Redis and the rest started again) under the `auto` limit,
    which counts the resolver: nothing was OOM-killed. The figures go to docs/mta-sts.md."""
    from secumail.config.settings import MTA_STS_RESOLVER_MEMORY_MB, SPAM_FILTER_MEMORY_MB

    a, b = sts
    memory = _cgroup_memory(a)
    rss = _rss_kib(a, "/run/mta-sts.pid")
    web = _rss_kib(b, "/run/lighttpd.pid")
    mib = {key: round(value / 2**20) for key, value in memory.items() if key != "oom_kill"}
    print(
        f"\nA's container (MiB): {mib}, OOM kills {memory['oom_kill']}; mta-sts-daemon RSS {rss // 1024} MiB; "
        f"B's lighttpd RSS {web // 1024} MiB"
    )
    assert memory["max"] == (SPAM_FILTER_MEMORY_MB + MTA_STS_RESOLVER_MEMORY_MB) * 2**20
    assert memory["oom_kill"] == 0, memory
    assert rss // 1024 < MTA_STS_RESOLVER_MEMORY_MB
