"""Inbound mail through Rspamd vs the light path, and what Rspamd's first start costs.

The protection test world (tests/integration/protection/conftest.py: the container smprot, a Knot
serving the stranger's SPF/DMARC records and the test DNSBL, a stranger in a network namespace),
with this world's per-client rate limits off (smtp_connection_rate 0, smtp_message_rate 0):

- Rspamd's first start: `features.spam_filter 0` deployed, Rspamd's compiled cache
  (/var/lib/rspamd) emptied, the cgroup's memory peak reset, then `features.spam_filter 1` deployed:
  seconds until the milter socket and controller answer, seconds until the container is idle again
  (hs_helper compiling Hyperscan databases), CPU seconds spent, the cgroup's peak;
- throughput: N messages of ~20 KB from the stranger over one SMTP session on port 25 (postscreen,
  SPF, DKIM, DMARC, DNSBL as for any outside sender) to alice, until all are in her maildir:
  messages/s and container CPU ms per message (cgroup cpuacct.usage), with the spam filter on
  (Rspamd) and off (the light path: postfix-policyd-spf-perl + OpenDMARC), in the same run.
DNS answers (Knot) and the sender run on the host, outside the container's CPU account.
Each path's last message is read back from the maildir: its Authentication-Results must hold the
path's SPF and DMARC verdicts (and with Rspamd, rspamd.log must name every message), or the run fails.
Needs root and the integration lock. N from $PROTECTION_BENCH_MESSAGES (default 1000), rounds (each
path once a round, alternating) from $PROTECTION_BENCH_ROUNDS (default 2).
`--write` puts the figures into bench/RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

from bench.results import update_section  # noqa: E402
from secumail.appliance import ownership  # noqa: E402
from secumail.mail import deploy  # noqa: E402
from tests.integration.protection.conftest import DATA, FRESH, _wait_rspamd, protected_world  # noqa: E402
from tests.integration.protection.test_memory import _cgroup_dir, cgroup_memory  # noqa: E402
from tests.integration.protection.test_spam_filter import PROSE  # noqa: E402

N = int(os.environ.get("PROTECTION_BENCH_MESSAGES", "1000"))
ROUNDS = int(os.environ.get("PROTECTION_BENCH_ROUNDS", "2"))
BODY = "\r\n".join([PROSE] * 80)  # ~20 KB of prose, the size bench/mail_container.py sends
MAILDIR = os.path.join(DATA, "mail", "example.org", "alice")
IDLE_CPU_SHARE = 0.05  # the container counts as idle below 5% of one core over IDLE_WINDOW
IDLE_WINDOW = 3.0

SEND = """
import time
out = {"codes": {}}
started = time.monotonic()
with smtplib.SMTP(server, 25, local_hostname="mx2.stranger.test", source_address=(source, 0), timeout=120) as smtp:
    smtp.ehlo()
    for i in range(count):
        msg = ("From: Friend <friend@stranger.test>\\r\\nTo: alice@example.org\\r\\nSubject: bench %s %d\\r\\n"
               "Message-ID: <%s.%d@stranger.test>\\r\\n\\r\\n%s\\r\\n" % (tag, i, tag, i, body))
        try:
            smtp.sendmail("friend@stranger.test", ["alice@example.org"], msg)
            code = 250
        except smtplib.SMTPException as exc:
            code = getattr(exc, "smtp_code", 0) or 0
        out["codes"][str(code)] = out["codes"].get(str(code), 0) + 1
out["seconds"] = time.monotonic() - started
"""


def delivered() -> int:
    """Messages in alice's maildir, every folder."""
    total = 0
    for root, _, names in os.walk(MAILDIR):
        if os.path.basename(root) in ("new", "cur"):
            total += len(names)
    return total


def cpu_seconds(world) -> float:
    return int(world.lxc.container.cgroup_get("cpuacct.usage")) / 1e9


def _deploy(world, settings) -> None:
    deploy.deploy(settings, world.lxc.container, hand_over=ownership.ContainerRuntime(settings).hand_over)


def _with_filter(settings, on: bool):
    return dataclasses.replace(settings, features=dataclasses.replace(settings.features, spam_filter=on))


def _wait_socket(world, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while world.exec(["test", "-S", path]).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} did not appear in {timeout} s")
        time.sleep(0.2)


def _wait_idle(world, timeout: float = 600) -> float:
    """Seconds until the container's CPU use over IDLE_WINDOW drops below IDLE_CPU_SHARE of one core."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        cpu0 = cpu_seconds(world)
        time.sleep(IDLE_WINDOW)
        if (cpu_seconds(world) - cpu0) / IDLE_WINDOW < IDLE_CPU_SHARE:
            return time.monotonic() - start - IDLE_WINDOW
    raise SystemExit(f"the container did not go idle within {timeout} s")


def first_start(world) -> dict:
    """Rspamd started with no compiled cache, as on a fresh install."""
    _deploy(world, _with_filter(world.settings, False))
    world.exec(["sh", "-c", "rm -rf /var/lib/rspamd/*"])
    _wait_idle(world)
    directory, version = _cgroup_dir(world.lxc.container.pid())
    if version == 1:  # v2's memory.peak cannot be reset on this kernel: the figure would be the world's
        with open(os.path.join(directory, "memory.max_usage_in_bytes"), "w") as handle:
            handle.write("0")
    cpu0, t0 = cpu_seconds(world), time.monotonic()
    _deploy(world, world.settings)
    _wait_rspamd(world, timeout=300)
    ready = time.monotonic() - t0
    _wait_idle(world)
    idle = time.monotonic() - t0 - IDLE_WINDOW
    cache = world.exec(["sh", "-c", "ls /var/lib/rspamd | grep -c '\\.hs' ; du -sk /var/lib/rspamd"]).stdout.split()
    return {
        "ready_s": ready,
        "idle_s": idle,
        "cpu_s": cpu_seconds(world) - cpu0,
        "peak_mib": cgroup_memory(world)["peak"] if version == 1 else None,
        "anon_after_mib": cgroup_memory(world)["anon"],
        "hs_files": int(cache[0]),
        "cache_kib": int(cache[1]),
    }


def _authentication_results(message_id: str) -> str:
    """The Authentication-Results this server wrote into the delivered message `message_id`."""
    for root, _, names in os.walk(MAILDIR):
        if os.path.basename(root) not in ("new", "cur"):
            continue
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                head = handle.read(8192).decode(errors="replace").split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
            if f"Message-ID: <{message_id}>" in head:
                unfolded = head.replace("\r\n", "\n").replace("\n\t", " ").replace("\n ", " ")
                return " | ".join(line for line in unfolded.splitlines() if line.startswith("Authentication-Results:"))
    raise SystemExit(f"message {message_id} is not in the maildir")


def throughput(world, tag: str, rspamd: bool) -> dict:
    warm = delivered()  # one message first: postscreen's first look at the client is not timed
    world.outside(SEND, server=world.ip, source=FRESH, count=1, tag=f"{tag}-warm", body=BODY)
    deadline = time.monotonic() + 60
    while delivered() < warm + 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"{tag}: the warm-up message did not arrive in 60 s")
        time.sleep(0.1)
    before = delivered()
    cpu0, t0 = cpu_seconds(world), time.monotonic()
    sent = world.outside(SEND, timeout=1800, server=world.ip, source=FRESH, count=N, tag=tag, body=BODY)
    accepted = sent["codes"].get("250", 0)
    if accepted != N:
        raise SystemExit(f"{tag}: {accepted} of {N} messages accepted, answers {sent['codes']}")
    while delivered() < before + accepted:
        if time.monotonic() - t0 > 1800:
            raise SystemExit(f"{tag}: {delivered() - before} of {accepted} messages arrived in 1800 s")
        time.sleep(0.05)
    took, cpu = time.monotonic() - t0, cpu_seconds(world) - cpu0
    verdicts = _authentication_results(f"{tag}.{N - 1}@stranger.test")
    if "spf=pass" not in verdicts or "dmarc=pass" not in verdicts:
        raise SystemExit(f"{tag}: the last message lacks this path's verdicts: {verdicts!r}")
    scanned = None
    if rspamd:  # Rspamd logs one line per scanned message, naming its Message-ID
        scanned = int(world.exec(["grep", "-c", f"<{tag}\\.[0-9]*@stranger.test>", "/var/log/rspamd.log"]).stdout or 0)
        if scanned < accepted:
            raise SystemExit(f"{tag}: rspamd.log names {scanned} of the {accepted} messages")
    return {
        "accepted": accepted,
        "codes": sent["codes"],
        "seconds": took,
        "per_s": accepted / took,
        "cpu_ms": cpu * 1000 / max(accepted, 1),
        "smtp_s": sent["seconds"],
        "scanned": scanned,
        "verdicts": verdicts,
    }


def main() -> None:
    write = "--write" in sys.argv[1:]
    runs: list[tuple[dict, dict]] = []
    with protected_world(smtp_connection_rate="0", smtp_message_rate="0") as world:
        _wait_idle(world)
        start = first_start(world)
        print(f"Rspamd first start: {start}", flush=True)
        for n in range(1, ROUNDS + 1):
            if n > 1:  # back on: Rspamd restarts with its compiled cache
                _deploy(world, world.settings)
                _wait_rspamd(world)
                _wait_idle(world)
            rspamd = throughput(world, f"rspamd{n}", rspamd=True)
            print(f"round {n}, spam_filter 1 (Rspamd): {rspamd}", flush=True)
            _deploy(world, _with_filter(world.settings, False))
            _wait_socket(world, "/var/spool/postfix/opendmarc/opendmarc.sock")
            _wait_idle(world)
            light = throughput(world, f"light{n}", rspamd=False)
            print(f"round {n}, spam_filter 0 (light path): {light}", flush=True)
            runs.append((rspamd, light))
    if write:
        write_results(start, runs)


def write_results(start: dict, runs: list[tuple[dict, dict]]) -> None:
    def row(n: int, name: str, r: dict) -> str:
        return (f"| {n} | {name} | {r['accepted']} of {N} | {r['seconds']:.1f} s | **{r['per_s']:.0f} msg/s** | "
                f"**{r['cpu_ms']:.2f} ms** |")  # fmt: skip

    rows = "\n".join(
        f"{row(n, 'Rspamd (`spam_filter 1`)', rspamd)}\n{row(n, 'light path (`spam_filter 0`)', light)}"
        for n, (rspamd, light) in enumerate(runs, 1)
    )
    ratios = "\n".join(
        f"- round {n}: **{light['per_s'] / rspamd['per_s']:.2f}x** the wall time, "
        f"**{rspamd['cpu_ms'] / light['cpu_ms']:.2f}x** the CPU per message"
        for n, (rspamd, light) in enumerate(runs, 1)
    )
    peak = f"{start['peak_mib']} MiB" if start["peak_mib"] is not None else "not measured (cgroup v2)"
    body = f"""\
`python3 bench/protection_throughput.py --write` as root, under the integration lock: the protection test
world (tests/integration/protection/conftest.py), container `smprot` (cgroup v1, 384 MiB, Debian bookworm,
Rspamd 3.4), its per-client rate limits off for the run. {N} messages of ~20 KB from the stranger's network
namespace over one SMTP session on port 25, through postscreen (DNSBL `dnsbl.test` on a local Knot), to one
mailbox; timed from the first byte until the last one is in the maildir. Rspamd: milter with `self_scan`,
SPF/DKIM/DMARC/ARC, Redis Bayes; light path: postfix-policyd-spf-perl at RCPT, OpenDKIM and OpenDMARC as
milters. Every message accepted and delivered; the last one's Authentication-Results hold the path's
`spf=pass` and `dmarc=pass`, and rspamd.log names every message of the Rspamd runs. CPU is the container
cgroup's `cpuacct.usage` (DNS answers and the sender run on the host and are not counted). Both paths in the
same run, alternating; Rspamd after round 1 restarted with its compiled cache.

| round | path | delivered | wall time | messages/s | container CPU per message |
| --- | --- | --- | --- | --- | --- |
{rows}

Rspamd / light path:
{ratios}

The issue sets no throughput goal (its memory goals, idle PSS ≤ 110 MiB with Rspamd and ≤ 40 MiB without,
are in "Protection: container memory" above). One session sends one message at a time, so wall time is
each message's latency through the milters and policy service; CPU is what the container spent in all.

Rspamd's first start (spam filter off → on with `/var/lib/rspamd` emptied, as after an install): milter
socket and controller answer after **{start["ready_s"]:.1f} s**; the container is idle again (hs_helper has
compiled its Hyperscan databases) after **{start["idle_s"]:.1f} s**, {start["cpu_s"]:.1f} CPU seconds; cgroup memory
peak **{peak}**, anonymous memory once idle {start["anon_after_mib"]} MiB; {start["hs_files"]} compiled files,
{start["cache_kib"] / 1024:.1f} MiB in `/var/lib/rspamd`. Later starts load that cache (docs/protection.md "Memory")."""
    update_section("protection-throughput", "Protection: inbound throughput, Rspamd vs the light path", body)


if __name__ == "__main__":
    main()
