"""Mail container numbers: idle memory (RSS/PSS), cold start to SMTP banner, delivery throughput.

One real LXC container (tests/integration/lxcworld.py) configured by secumail.mail:
- idle memory: sum of Rss and Pss over every process in the container (smaps_rollup), services idle;
- cold start: container start + the start script until port 25 answers with a banner;
- throughput: N messages of 20 KB submitted over one authenticated STARTTLS session on 587 to a
  local mailbox, until all are in the maildir: messages/s and container CPU seconds per message
  (cgroup cpuacct.usage), with DKIM signing off and on in the same run.
Needs root. N from $MAIL_BENCH_MESSAGES (default 1000).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import smtplib
import ssl
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

from secumail.appliance import datadir, ownership, spec  # noqa: E402
from secumail.mail import accounts, deploy  # noqa: E402
from secumail.mail.selfsigned import ensure_selfsigned  # noqa: E402
from tests.integration.lxcworld import lxc_world  # noqa: E402
from tests.support.settings import mail_settings as make_settings  # noqa: E402

N = int(os.environ.get("MAIL_BENCH_MESSAGES", "1000"))
DATA = "/var/tmp/secumail-mail-bench/data"


def memory(container, only: str | None = None) -> tuple[float, float]:
    """RSS and PSS (MiB) of every process in the container (or of those whose command line holds
    `only`), read from the host: inside, the unprivileged root (no sys_ptrace) cannot read other
    users' smaps."""
    namespace = os.readlink(f"/proc/{container.pid()}/ns/pid")
    chunks = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                if only is not None:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        if only.encode() not in handle.read():
                            continue
                with open(f"/proc/{pid}/smaps_rollup") as handle:
                    chunks.append(handle.read())
        except OSError:
            continue
    out = "".join(chunks)
    rss = sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("Rss:"))
    pss = sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("Pss:"))
    return rss / 1024, pss / 1024


def cpu_seconds(container) -> float:
    return int(container.cgroup_get("cpuacct.usage")) / 1e9


def count(maildir: str) -> int:
    dirs = [os.path.join(maildir, sub) for sub in ("new", "cur")]
    return sum(len(os.listdir(d)) for d in dirs if os.path.isdir(d))


def throughput(world, settings, dkim_on: bool) -> tuple[float, float]:
    settings = dataclasses.replace(settings, features=dataclasses.replace(settings.features, dkim=dkim_on))
    deploy.deploy(settings, world.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
    time.sleep(1)
    maildir = os.path.join(DATA, "mail", "example.org", "bob")
    before = count(maildir)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    body = ("x" * 78 + "\r\n") * 250  # ~20 KB
    cpu0, t0 = cpu_seconds(world.container), time.perf_counter()
    with smtplib.SMTP(world.ip, 587, local_hostname="bench.example.org", timeout=60) as smtp:
        smtp.starttls(context=ctx)
        smtp.login("alice@example.org", "alice-secret")
        for i in range(N):
            msg = f"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: bench {i}\r\n\r\n{body}"
            smtp.sendmail("alice@example.org", ["bob@example.org"], msg)
    while count(maildir) < before + N:
        if time.perf_counter() - t0 > 600:
            raise SystemExit("messages did not all arrive within 600 s")
        time.sleep(0.05)
    took, cpu = time.perf_counter() - t0, cpu_seconds(world.container) - cpu0
    return N / took, cpu / N


def main() -> None:
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    os.makedirs(DATA)
    settings = make_settings(DATA, hostname="mail", container="smbench")
    settings = dataclasses.replace(settings, dkim=dataclasses.replace(settings.dkim, key_bits=2048))
    datadir.ensure_layout(settings)
    with lxc_world(name="smbench", bridge="smbench0", subnet="10.234.0", memory_mb=256,
                   mounts=spec.data_mounts(DATA), masks=spec.data_masks(),
                   lxcpath=settings.container.lxc_path,
                   before_start=lambda w: ownership.shift_data(settings, w.spec.idmap)) as world:
        ensure_selfsigned(DATA, settings.main.fqdn)
        runtime = ownership.ContainerRuntime(settings)
        deploy.deploy(settings, world.container, hand_over=runtime.hand_over)  # the services run before accounts change
        accounts.user_add(settings, "alice@example.org", "alice-secret", runtime=runtime)
        accounts.user_add(settings, "bob@example.org", "bob-secret", runtime=runtime)
        world.wait_port(25, timeout=20)
        time.sleep(3)
        rss, pss = memory(world.container)
        print(f"idle memory (postfix+dovecot+opendkim, all container processes): RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
        starts = []
        for _ in range(3):
            world.container.stop()
            t0 = time.perf_counter()
            world.container.start()
            world.container.exec(["/srv/mailserver/config/live/container/start"])
            world.wait_port(25, timeout=30)
            starts.append(time.perf_counter() - t0)
        print(f"cold start (lxc start + start script → SMTP banner): {', '.join(f'{s:.2f}' for s in starts)} s")
        off = throughput(world, settings, dkim_on=False)
        on = throughput(world, settings, dkim_on=True)
        print(f"throughput {N} x 20 KB via 587: DKIM off {off[0]:.1f} msg/s, {off[1] * 1000:.2f} ms CPU/msg; "
              f"DKIM on {on[0]:.1f} msg/s, {on[1] * 1000:.2f} ms CPU/msg; CPU ratio on/off {on[1] / off[1]:.2f}")
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)


if __name__ == "__main__":
    main()
