"""IMAP import rate: an old provider's Dovecot (its own container) into the mail container, as `mailctl import`.

Two real LXC containers on one bridge (tests/integration/lxcworld.py): the mail container configured by
secumail.mail, and a plain Dovecot with IMAPS (tests/support/oldimap.py) holding N messages of about
4 KB in three folders plus 10 of 1 MiB. Measured, with secumail.mail.imapimport.engine as mailctl runs it
(one process, TLS to the old server, PREAUTH IMAP into Dovecot through the container):
- the first copy: messages/s and MiB/s, wall time;
- a re-run that finds nothing new (folder list and UIDs only);
- the peer: Dovecot's own migration, `doveadm backup -R` from an `imapc:` source, run inside the mail
  container into a second mailbox (same messages, same network), for the ratio.
Needs root. N from $IMPORT_BENCH_MESSAGES (default 2000).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

from bench.results import update_section  # noqa: E402
from secumail.appliance import datadir, ownership, spec  # noqa: E402
from secumail.config.validate import parse_imap_url  # noqa: E402
from secumail.mail import accounts, deploy  # noqa: E402
from secumail.mail.imapimport import engine  # noqa: E402
from secumail.mail.selfsigned import ensure_selfsigned  # noqa: E402
from tests.integration.lxcworld import lxc_world  # noqa: E402
from tests.support import oldimap  # noqa: E402
from tests.support.settings import mail_settings as make_settings  # noqa: E402
from tests.support.wait import wait_port  # noqa: E402

N = int(os.environ.get("IMPORT_BENCH_MESSAGES", "2000"))
ROOT = "/var/tmp/secumail-import-bench"
DATA = f"{ROOT}/data"
USER, PEER_USER = "bench@example.org", "peer@example.org"
DATE = '"05-Dec-2026 10:00:00 +0000"'


def seed(ip: str, cafile: str) -> tuple[int, int]:
    imap = oldimap.connect(ip, cafile)
    count = size = 0
    try:
        split = {"INBOX": N * 6 // 10, "Sent Messages": N * 2 // 10, "Work/2024": N - N * 8 // 10}
        for folder, many in split.items():
            batch = [(oldimap.message(f"{folder}-{i}", size=4000), "(\\Seen)", DATE) for i in range(many)]
            oldimap.seed(imap, folder, batch)
            count += many
            size += sum(len(body) for body, _flags, _date in batch)
        big = [(oldimap.message(f"big-{i}", size=2**20), "(\\Seen)", DATE) for i in range(10)]
        oldimap.seed(imap, "Attachments", big)
        return count + len(big), size + sum(len(body) for body, _flags, _date in big)
    finally:
        imap.logout()


PEER = """set -eu
cat > /etc/dovecot/old-ca.pem
doveadm -o imapc_host=$1 -o imapc_port=993 -o imapc_ssl=imaps -o ssl_client_ca_file=/etc/dovecot/old-ca.pem \
  -o imapc_user=olduser -o imapc_password="$2" -o mail_prefetch_count=20 -o imapc_features="rfc822.size fetch-headers" \
  backup -R -u "$3" imapc:
"""


def peer_seconds(container, old_ip: str, cert: str) -> tuple[float | None, str]:
    """Dovecot's own IMAP migration (doveadm backup from imapc:), the same messages into another mailbox.
    The bench's throwaway password goes in argv here (inside the container only): the product never does."""
    start = time.monotonic()
    res = container.exec(["sh", "-c", PEER, "peer", old_ip, oldimap.PASSWORD, PEER_USER], input=cert, timeout=1800)
    seconds = time.monotonic() - start
    if res.returncode != 0:
        return None, (res.stderr or res.stdout).strip().splitlines()[-1][:200]
    return seconds, ""


def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(DATA)
    settings = make_settings(DATA, hostname="mail", container="smimpb", features={"spam_filter": "0"},
                             protection={"dnsbl": (), "sender_checks": "0"})  # fmt: skip
    datadir.ensure_layout(settings)
    try:
        with (
            lxc_world(name="smimpb", bridge="smimpb0", subnet="10.228.0", memory_mb=256,
                      mounts=spec.data_mounts(DATA), masks=spec.data_masks(), lxcpath=settings.container.lxc_path,
                      before_start=lambda world: ownership.shift_data(settings, world.spec.idmap)) as mail,
            lxc_world(name="smimpbold", bridge="smimpb0", subnet="10.228.0", memory_mb=192, host_octet=3) as old,
        ):  # fmt: skip
            cert = oldimap.configure(old.container, old.ip)
            cafile = f"{ROOT}/old-cert.pem"
            with open(cafile, "w") as handle:
                handle.write(cert)
            ensure_selfsigned(DATA, settings.main.fqdn)
            accounts.user_add(settings, USER, "bench-password")
            accounts.user_add(settings, PEER_USER, "peer-password")
            deploy.deploy(settings, mail.container, hand_over=ownership.ContainerRuntime(settings).hand_over)
            wait_port(mail.ip, 993)
            wait_port(old.ip, 993)
            t0 = time.monotonic()
            messages, size = seed(old.ip, cafile)
            seeded = time.monotonic() - t0
            job = engine.Job(name="bench", user=USER, source=parse_imap_url(f"imaps://{oldimap.LOGIN}@{old.ip}"),
                             password=oldimap.PASSWORD, ca_file=cafile)  # fmt: skip
            t0 = time.monotonic()
            first = engine.run(job, layout=settings.layout, spawner=mail.container)
            first_s = time.monotonic() - t0
            assert first["copied"] == messages, first
            t0 = time.monotonic()
            again = engine.run(job, layout=settings.layout, spawner=mail.container)
            again_s = time.monotonic() - t0
            assert again["copied"] == 0, again
            peer_s, peer_error = peer_seconds(mail.container, old.ip, cert)
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
    mib = size / 2**20
    rows = [
        "| what | messages | MiB | seconds | messages/s | MiB/s |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| `mailctl import`, first copy | {messages} | {mib:.1f} | {first_s:.1f} | {messages / first_s:.0f} | "
        f"{mib / first_s:.1f} |",
        f"| `mailctl import`, re-run (nothing new) | 0 | 0 | {again_s:.2f} | - | - |",
    ]
    if peer_s is not None:
        rows.append(f"| peer: `doveadm backup -R` from `imapc:` | {messages} | {mib:.1f} | {peer_s:.1f} | "
                    f"{messages / peer_s:.0f} | {mib / peer_s:.1f} |")  # fmt: skip
        ratio = f"Ratio to the peer: {first_s / peer_s:.2f} (time of `mailctl import` / time of `doveadm backup`)."
    else:
        ratio = f"The peer did not run here: {peer_error}"
    body = (
        f"{messages} messages ({N} of about 4 KB in three folders, 10 of 1 MiB) from a plain Dovecot over IMAPS "
        f"(its own LXC container on the same bridge) into the mail container, by "
        f"`secumail.mail.imapimport.engine` as `mailctl import` runs it: TLS to the old server, batches of up to "
        f"100 messages or 8 MiB per FETCH, one APPEND per message into Dovecot's PREAUTH IMAP process through "
        f"`lxc-attach` (`bench/imap_import.py`; seeding took {seeded:.1f} s, not counted).\n\n"
        + "\n".join(rows) + f"\n\n{ratio}\n"
    )  # fmt: skip
    update_section("imap-import", "IMAP import rate", body)
    print(body)


if __name__ == "__main__":
    main()
