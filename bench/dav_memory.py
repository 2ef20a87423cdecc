"""Calendars and contacts (features.dav): what Radicale costs in the mail container.

One real LXC container (tests/integration/lxcworld.py) configured by secumail.mail, two mailboxes:
- memory (RSS and PSS from smaps_rollup, read on the host) of the whole container with the feature off,
  then on (Radicale idle after its first login), and of Radicale's own process, idle and after
  N events written and read back by the caldav library (PyPI, test extra);
- the time of one authenticated PROPFIND (every request is one Dovecot login: one bcrypt check).
Needs root. N from $DAV_BENCH_EVENTS (default 200).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import time
import uuid
import warnings

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

import caldav  # noqa: E402

from bench.mail_container import memory  # noqa: E402
from bench.results import update_section  # noqa: E402
from secumail.appliance import datadir, ownership, spec  # noqa: E402
from secumail.mail import accounts, deploy  # noqa: E402
from secumail.mail.selfsigned import ensure_selfsigned  # noqa: E402
from tests.integration.lxcworld import lxc_world  # noqa: E402
from tests.integration.mail.test_dav import EVENT, PORT, request  # noqa: E402
from tests.support.settings import mail_settings as make_settings  # noqa: E402
from tests.support.wait import wait_port  # noqa: E402

# The self-signed certificate of the bench's host name, reached by address: not what is measured.
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
N = int(os.environ.get("DAV_BENCH_EVENTS", "200"))
DATA = "/var/tmp/secumail-dav-bench/data"
USER, PASSWORD = "alice@example.org", "alice-secret"


def main() -> None:
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    os.makedirs(DATA)
    off = make_settings(DATA, hostname="mail", container="smdavb", features={"spam_filter": "0"},
                        protection={"dnsbl": (), "sender_checks": "0"})
    on = dataclasses.replace(off, features=dataclasses.replace(off.features, dav=True))
    datadir.ensure_layout(off)
    rows = []
    with lxc_world(name="smdavb", bridge="smdavb0", subnet="10.235.0", memory_mb=256,
                   mounts=spec.data_mounts(DATA), masks=spec.data_masks(), lxcpath=off.container.lxc_path,
                   before_start=lambda w: ownership.shift_data(off, w.spec.idmap)) as world:
        ensure_selfsigned(DATA, off.main.fqdn)
        runtime = ownership.ContainerRuntime(off)
        deploy.deploy(off, world.container, hand_over=runtime.hand_over)
        accounts.user_add(off, USER, PASSWORD, runtime=runtime)
        world.wait_port(25, timeout=20)
        time.sleep(3)
        rows.append(("container, features.dav 0", *memory(world.container)))
        deploy.deploy(on, world.container, hand_over=runtime.hand_over)
        wait_port(world.ip, PORT, timeout=30)
        assert request(world.ip, "PROPFIND", f"/{USER}/", USER, PASSWORD)[0] == 207
        time.sleep(3)
        rows.append(("container, features.dav 1 (Radicale idle)", *memory(world.container)))
        rows.append(("radicale process, idle", *memory(world.container, only="radicale")))
        took = []
        for _ in range(20):
            t0 = time.perf_counter()
            request(world.ip, "PROPFIND", f"/{USER}/", USER, PASSWORD)
            took.append((time.perf_counter() - t0) * 1000)
        client = caldav.DAVClient(url=f"https://{world.ip}:{PORT}/", username=USER, password=PASSWORD,
                                  ssl_verify_cert=False)
        calendar = client.principal().make_calendar(name="Bench", cal_id="bench")
        t0 = time.perf_counter()
        for i in range(N):
            calendar.save_event(EVENT.format(uid=uuid.uuid4(), summary=f"event {i}"))
        write_s = time.perf_counter() - t0
        assert len(calendar.events()) == N
        rows.append((f"radicale process, after {N} events written and read", *memory(world.container, only="radicale")))
        rows.append((f"container, features.dav 1 after {N} events", *memory(world.container)))
    shutil.rmtree(os.path.dirname(DATA), ignore_errors=True)
    lines = ["| what | RSS | PSS |", "| --- | --- | --- |"]
    lines += [f"| {what} | {rss:.1f} MiB | {pss:.1f} MiB |" for what, rss, pss in rows]
    lines.append("")
    lines.append(f"One authenticated PROPFIND (a Dovecot login with a bcrypt check each time): median "
                 f"{statistics.median(took):.0f} ms (n={len(took)}); {N} events written in {write_s:.1f} s "
                 f"({N / write_s:.1f} events/s, one client, one request each).")
    body = "\n".join(lines)
    print(body)
    update_section("dav", "Calendars and contacts (Radicale): memory", body + "\n\n`bench/dav_memory.py` (root, LXC).")


if __name__ == "__main__":
    main()
