"""mailctl import against a real old server (a plain Dovecot in its own container) into the appliance's Dovecot.

What a user moving in sees: every folder arrives with its messages, flags and dates; nothing is copied
twice, not even after a kill in the middle; a sync job brings new mail on its schedule; a wrong password
is one line. The messages are compared as an IMAP client reads them on both servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.imports.conftest import USER, USER_PASSWORD
from tests.support import oldimap
from tests.support.imapclient import folder_contents, imap_wait, tls_context
from tests.support.procs import descendants
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

NAME = "alice_10_229_0_3"  # the default name: <local part here>_<host>
BIG = 10 * 1024 * 1024
# wire name at the old server → wire name here (modified UTF-7), and what the folder holds
FOLDERS = {
    "INBOX": "INBOX",
    "Sent Messages": "Sent",  # \Sent at the old server: our Sent
    "Spam Box": "Junk",  # \Junk
    "Work/Projects/2024": "Work/Projects/2024",
    "&AMQ-rger &- Co": "&AMQ-rger &- Co",  # Ärger & Co
    "Archiv/&ANw-ber 1.0": "Archiv/&ANw-ber 1_0",  # Archiv/Über 1.0: '.' separates levels in our maildir
    "Big": "Big",
}
SEED = {
    "INBOX": [(oldimap.message("in-1"), "(\\Seen)", '"01-Feb-2020 10:11:12 +0100"'),
              (oldimap.message("in-2"), "()", '"15-Mar-2019 23:59:59 -0700"'),
              (oldimap.message("in-3"), "(\\Flagged \\Answered $Forwarded)", '"29-Feb-2024 12:00:00 +0000"'),
              (oldimap.message("in-4", message_id=False), "(\\Seen)", '"02-Jan-2021 08:00:00 +0200"')],
    "Sent Messages": [(oldimap.message("sent-1"), "(\\Seen)", '"03-Apr-2018 09:30:00 +0000"'),
                      (oldimap.message("sent-2"), "(\\Seen \\Answered)", '"04-Apr-2018 09:31:00 +0000"')],
    "Spam Box": [(oldimap.message("spam-1"), "($Junk)", '"05-May-2022 05:05:05 +0500"')],
    "Work/Projects/2024": [(oldimap.message("work-1"), "(\\Seen \\Draft)", '"06-Jun-2024 06:06:06 +0000"'),
                           (oldimap.message("work-2"), "(Projekt1)", '"07-Jul-2024 07:07:07 -0300"')],
    "&AMQ-rger &- Co": [(oldimap.message("aerger-1"), "(\\Seen \\Deleted)", '"08-Aug-2017 08:08:08 +0000"'),
                        (oldimap.message("aerger-2"), "()", '"09-Sep-2017 09:09:09 +0000"')],
    "Archiv/&ANw-ber 1.0": [(oldimap.message("archiv-1"), "(\\Seen)", '"10-Oct-2010 10:10:10 +0100"')],
    "Big": [(oldimap.message("big-1", size=BIG), "(\\Seen)", '"11-Nov-2011 11:11:11 +0000"')],
}  # fmt: skip
BULK = 400


def _env(world) -> dict:
    return dict(world.agent.env)


def mailctl(world, *args: str, password: str = oldimap.PASSWORD, check: bool = True) -> subprocess.CompletedProcess:
    proc = world.agent.mailctl(*args, input=password + "\n")
    if check:
        assert proc.returncode == 0, f"mailctl {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    assert password not in proc.stdout + proc.stderr
    return proc


def import_args(world, *extra: str) -> list[str]:
    return ["import", USER, "--from", world.url, "--password-stdin", "--ca-file", world.cafile, *extra]


def old_server(world):
    return oldimap.connect(world.old_ip, world.cafile)


def ours(world):
    import imaplib

    imap = imaplib.IMAP4_SSL(world.appliance.ip, 993, ssl_context=tls_context(), timeout=30)
    imap.login(USER, USER_PASSWORD)
    return imap


def both(world, old_wire: str, our_wire: str):
    old, new = old_server(world), ours(world)
    try:
        return folder_contents(old, old_wire), folder_contents(new, our_wire)
    finally:
        old.logout()
        new.logout()


def state(world) -> dict:
    with open(os.path.join(world.agent.data_path, "import", f"{NAME}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_a_wrong_password_or_an_unpinned_certificate_is_one_line_and_leaves_nothing(importworld):
    world = importworld
    imap = old_server(world)
    try:
        for folder, messages in SEED.items():
            oldimap.seed(imap, folder, messages)
    finally:
        imap.logout()
    wrong = mailctl(world, *import_args(world), password="not the password", check=False)
    assert wrong.returncode == 1 and wrong.stdout == ""
    (line,) = wrong.stderr.splitlines()
    assert line.startswith(f"mailctl: {world.old_ip} refused the login of olduser: "), line
    assert "AUTHENTICATIONFAILED" in line
    unpinned = mailctl(world, "import", USER, "--from", world.url, "--password-stdin", check=False)
    assert unpinned.returncode == 1
    assert unpinned.stderr.splitlines()[-1].startswith(f"mailctl: TLS to {world.old_ip}:993: certificate verify "
                                                       "failed: self-signed certificate (pin its certificate with "
                                                       "--ca-file FILE, or --insecure)")  # fmt: skip
    job = mailctl(world, *import_args(world, "--every", "1m"), password="not the password", check=False)
    assert job.returncode == 1 and "refused the login of olduser" in job.stderr.splitlines()[-1]
    assert not os.path.exists(os.path.join(world.agent.data_path, "import", f"{NAME}.json"))
    with open(os.path.join(world.agent.confdir, "mailserver")) as handle:
        assert "config import" not in handle.read()  # nothing saved


def test_every_folder_arrives_with_flags_dates_and_bodies_and_a_rerun_copies_nothing(importworld):
    world = importworld
    first = mailctl(world, "--json", *import_args(world))
    result = json.loads(first.stdout)
    total = sum(len(messages) for messages in SEED.values())
    assert (result["copied"], result["present"], result["refused"]) == (total, 0, 0), result
    assert result["bytes"] > BIG
    assert "new messages (" in first.stderr and "messages, " in first.stderr  # progress, on stderr
    for old_wire, our_wire in FOLDERS.items():
        theirs, here = both(world, old_wire, our_wire)
        assert len(theirs) == len(SEED[old_wire]) and here == theirs, old_wire
    assert {entry["target"] for entry in state(world)["folders"].values()} >= {"Sent", "Junk", "Archiv/Über 1_0",
                                                                              "Ärger & Co"}  # fmt: skip
    assert oct(os.stat(os.path.join(world.agent.data_path, "import", f"{NAME}.json")).st_mode & 0o777) == "0o600"

    again = json.loads(mailctl(world, "--json", *import_args(world)).stdout)
    assert (again["copied"], again["present"]) == (0, 0), again
    theirs, here = both(world, "INBOX", "INBOX")
    assert here == theirs and len(here) == 4


def test_killed_in_the_middle_a_rerun_completes_without_duplicates(importworld):
    world = importworld
    imap = old_server(world)
    try:
        date = '"12-Dec-2012 12:12:12 +0000"'
        oldimap.seed(imap, "Bulk", [(oldimap.message(f"bulk-{i}", size=2000), "(\\Seen)", date) for i in range(BULK)])
    finally:
        imap.logout()
    proc = subprocess.Popen([sys.executable, "-m", "secumail.cli", *import_args(world)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(world))  # fmt: skip
    proc.stdin.write(f"{oldimap.PASSWORD}\n".encode())
    proc.stdin.close()

    def in_second_batch() -> bool:
        bulk = state(world)["folders"].get("Bulk") or {}
        return bulk.get("last_uid", 0) >= 100 and "in_flight" in bulk

    wait_until(in_second_batch, timeout=60, interval=0.005, what="the import to be in its second Bulk batch")
    time.sleep(0.05)  # some of the batch appended, not all
    proc.kill()
    proc.wait()
    killed_at = state(world)["folders"]["Bulk"]
    assert "in_flight" in killed_at and killed_at["last_uid"] < BULK

    result = json.loads(mailctl(world, "--json", *import_args(world)).stdout)
    assert result["copied"] + result["present"] == BULK - killed_at["last_uid"], result
    theirs, here = both(world, "Bulk", "Bulk")
    assert len(theirs) == BULK and here == theirs  # every message once
    assert "in_flight" not in state(world)["folders"]["Bulk"]


def test_a_sync_job_brings_new_mail_on_its_schedule_until_deleted(importworld):
    world = importworld
    agent = world.agent.start()  # 20 times faster: 1m is 3 s
    try:
        added = mailctl(world, *import_args(world, "--every", "1m"))
        assert added.stdout.strip() == (f"import {NAME}: {USER} ← imaps://olduser@{world.old_ip}:993 every 1m; "
                                        "secumaild runs the first sync now")  # fmt: skip
        with open(os.path.join(agent.confdir, "mailserver")) as handle:
            assert oldimap.PASSWORD not in handle.read()
        secret = os.path.join(agent.data_path, "import", f"{NAME}.password")
        assert oct(os.stat(secret).st_mode & 0o777) == "0o600"

        imap = old_server(world)
        try:
            oldimap.seed(imap, "INBOX", [(oldimap.message("news-1"), "(\\Flagged)", '"01-Dec-2026 01:02:03 +0000"')])
        finally:
            imap.logout()
        imap_wait(world.appliance.ip, user=USER, password=USER_PASSWORD, token="news-1", timeout=60)
        theirs, here = both(world, "INBOX", "INBOX")
        assert here == theirs and len(here) == 5

        rows = json.loads(mailctl(world, "--json", "import", "list").stdout)
        (row,) = [r for r in rows if r["name"] == NAME]
        assert row["every"] == "1m" and row["password_stored"] and row["last_run"]["ok"], row
        # a once-run while secumaild runs is its job `import`, followed here
        once = mailctl(world, *import_args(world))
        assert "import: " in once.stderr and once.stdout.startswith("imported 0 messages"), once.stderr

        gone = mailctl(world, "import", "del", NAME)
        assert gone.stdout.strip() == f"import {NAME} deleted"
        assert not os.path.exists(secret)
        assert json.loads(mailctl(world, "--json", "import", "list").stdout) == []
    finally:
        workers = descendants(agent.proc.pid) if agent.proc else []
        agent.stop()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
