"""The rpcd plugin exactly as rpcd runs it, against a real secumaild and a real mail container.

`luci.mailserver list`, then `luci.mailserver call METHOD` with the arguments as JSON on stdin —
what LuCI's buttons do — and the effect checked the way a mail user sees it: IMAPS logins with the
password given in the stdin JSON, mail to an alias read back from the target's inbox, the container
stopped and started through jobs. Every reply is one JSON object within 2 s; a scanner reads
/proc/*/cmdline all along and fails the test that let a password reach any argv.

Own world: container smluci on bridge smluci0 (10.237.0.0/24), paths under /var/tmp/secumail-luci-test,
image from the shared cache (/var/cache/secumail-test, or $SECUMAIL_IMAGE_CACHE).
"""

from __future__ import annotations

import datetime as dt
import imaplib
import json
import os
import smtplib
import ssl
import subprocess
import sys
import time
import uuid

import pytest

from tests.integration.luci.world import World
from tests.integration.lxcworld import ensure_apt_packages, need_root
from tests.support import reportmail as rm
from tests.support.argvscan import ArgvScanner
from tests.support.imapclient import imap_login_ok
from tests.support.luciplugin import Plugin
from tests.support.paths import REPO
from tests.support.wait import stays

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-luci-test"
NAME, BRIDGE, SUBNET = "smluci", "smluci0", "10.237.0"
IP = f"{SUBNET}.2"
DOMAIN, OTHER = "luci.test", "other.test"
# Unique enough that no unrelated process has them in its argv.
FIRST_PW = f"First-{uuid.uuid4().hex[:12]}-pw"
SECOND_PW = f"Second-{uuid.uuid4().hex[:12]}-pw"
# seconds: a call must never hold rpcd (and the browser) for longer. Heavy work (a deploy, an install: 10 s
# and more) must be a job; 2 s was missed by a userAdd (bcrypt + account files) on the loaded 2-core CI machine.
FAST = 5.0


class Appliance:
    """The plugin plus what the tests need to look behind it."""

    def __init__(self, plugin: Plugin, scanner: ArgvScanner) -> None:
        self.plugin = plugin
        self.scanner = scanner
        self.calls: list[tuple[str, float]] = []

    def call(self, method: str, args: dict | None = None, ok: bool = True) -> dict:
        reply = self.plugin.call(method, args)
        self.calls.append((method, reply.seconds))
        assert reply.seconds < FAST, f"{method} took {reply.seconds:.2f} s: {reply.data}"
        if ok:
            assert reply.data.get("error") is None, f"{method}: {reply.data}"
        return reply.data

    def job(self, method: str, args: dict | None = None, timeout: float = 240) -> dict:
        """Start a job through `method`, poll jobShow as the page does; the finished job and its progress."""
        started = self.call(method, args)
        assert set(started) == {"id"}, started
        messages: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("jobShow", {"id": started["id"]}, ok=False)  # a failed job has its error
            assert job.get("id") == started["id"], job
            message = (job.get("progress") or {}).get("message")
            if message and (not messages or messages[-1] != message):
                messages.append(message)
            if job["state"] in ("done", "failed"):
                job["messages"] = messages
                return job
            assert job["state"] in ("queued", "running"), job
            assert time.monotonic() < deadline, f"{method} job still {job['state']} after {timeout} s: {job}"
            time.sleep(0.3)


WORLD = World(work=WORK, name=NAME, bridge=BRIDGE, subnet=SUBNET, domain=DOMAIN, confdir=f"{WORK}/config")


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def appliance():
    need_root()
    ensure_apt_packages()
    WORLD.teardown()  # what a killed earlier run left
    WORLD.write_config()
    env = WORLD.env()
    daemon = None
    try:
        installed = WORLD.install()
        assert installed["container"] == "RUNNING", installed

        log = open(f"{WORK}/secumaild.log", "w")  # noqa: SIM115 - the daemon writes it until teardown
        daemon = subprocess.Popen([sys.executable, "-m", "secumail.daemon", "--stderr"], env=env, cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        deadline = time.monotonic() + 15
        while not os.path.exists(f"{WORK}/run/control.sock"):
            assert daemon.poll() is None, _read(f"{WORK}/secumaild.log")
            assert time.monotonic() < deadline, "secumaild did not open its control socket"
            time.sleep(0.05)
        with ArgvScanner((FIRST_PW, SECOND_PW)) as scanner:
            yield Appliance(Plugin(env), scanner)
    finally:
        WORLD.teardown(daemon)


@pytest.fixture(autouse=True)
def no_password_in_argv(appliance):
    yield
    assert appliance.scanner.scans > 0
    assert appliance.scanner.seen == [], f"a password was in a process's argv: {appliance.scanner.seen[:3]}"


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the install-time self-signed certificate
    return ctx


def _imap_find(user: str, password: str, token: str, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL(IP, 993, ssl_context=_tls(), timeout=10) as imap:
            imap.login(user, password)
            imap.select("INBOX", readonly=True)
            _, found = imap.search(None, "BODY", token)
            if found[0]:
                _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
                return data[0][1]
        assert time.monotonic() < deadline, f"message {token} did not reach {user}'s INBOX within {timeout} s"
        time.sleep(0.3)


def _wait_state(appliance: Appliance, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = appliance.call("getStatus")
        if status["container"]["state"] == state:
            return status
        assert time.monotonic() < deadline, f"container is {status['container']['state']}, not {state}"
        time.sleep(0.5)


def test_list_then_status_shows_the_running_container_and_its_services(appliance):
    methods = appliance.plugin.list()
    assert {"getStatus", "userAdd", "serviceAction", "install", "jobShow"} <= set(methods)
    assert methods["userAdd"] == {"address": "str", "password": "str", "quota": "str"}

    # the daemon's first reconcile re-renders and reloads right after it starts: OpenDKIM's socket
    # may be away for a moment, as the page's 10 s refresh would show
    deadline = time.monotonic() + 20
    while True:
        status = appliance.call("getStatus")
        if all(status["services"].values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status["container"] == {**status["container"], "name": NAME, "state": "RUNNING"}
    services = status["services"]
    assert {"smtp", "submission", "imaps"} <= set(services), services
    assert all(services.values()), f"services down: {services}"
    assert status["queue"] == 0
    assert status["certificate"]["present"] and status["certificate"]["days_left"] > 300
    assert status["dkim"]["key_present"] is True
    memory = status["container"]["memory"]
    assert memory is None or memory["used"] > 0


def test_accounts_with_passwords_in_stdin_json_and_imaps_logins(appliance):
    added = appliance.job("domainAdd", {"domain": OTHER})  # redeploys the mail config: a job
    assert added["state"] == "done" and added["result"]["added"], added
    assert OTHER in [d["domain"] if isinstance(d, dict) else d for d in appliance.call("listDomains")["result"]]
    added = appliance.call("userAdd", {"address": f"alice@{OTHER}", "password": FIRST_PW, "quota": "50M"})
    assert added["added"], added
    assert imap_login_ok(IP, f"alice@{OTHER}", FIRST_PW)
    assert not imap_login_ok(IP, f"alice@{OTHER}", "not-" + FIRST_PW)

    changed = appliance.call("userPasswd", {"address": f"alice@{OTHER}", "password": SECOND_PW})
    assert changed["password_changed"], changed
    assert not imap_login_ok(IP, f"alice@{OTHER}", FIRST_PW), "the old password still logs in"
    assert imap_login_ok(IP, f"alice@{OTHER}", SECOND_PW)

    again = appliance.call("userAdd", {"address": f"alice@{OTHER}", "password": FIRST_PW}, ok=False)
    assert again["code"] == 2 and FIRST_PW not in again["error"], again
    users = appliance.call("listUsers")["result"]
    assert f"alice@{OTHER}" in [u["address"] for u in users]
    refused = appliance.job("domainDel", {"domain": OTHER})  # it has a mailbox: mailctl's one line
    assert refused["state"] == "failed" and "still has 1 mailbox" in refused["error"], refused


def test_mail_to_an_alias_arrives_in_the_targets_inbox(appliance):
    assert appliance.call("aliasAdd", {"source": f"team@{OTHER}", "destinations": [f"alice@{OTHER}"]})
    aliases = appliance.call("listAliases")["result"]
    assert any(a["source"] == f"team@{OTHER}" for a in aliases), aliases

    token = uuid.uuid4().hex
    message = (f"From: someone@outside.test\r\nTo: team@{OTHER}\r\nSubject: luci {token}\r\n"
               f"Message-ID: <{token}@outside.test>\r\n\r\ntoken {token}\r\n")  # fmt: skip
    with smtplib.SMTP(IP, 25, local_hostname="client.outside.test", timeout=20) as smtp:
        smtp.sendmail("someone@outside.test", [f"team@{OTHER}"], message)
    assert token.encode() in _imap_find(f"alice@{OTHER}", SECOND_PW, token)



def test_an_app_password_revoked_in_luci_stops_logging_in_at_once(appliance):
    env = appliance.plugin.env
    made = subprocess.run([env["SECUMAIL_MAILCTL"], "--json", "user", "app-password", "add", f"alice@{OTHER}",
                           "phone"], env=env, capture_output=True, text=True, check=True)  # fmt: skip
    token = json.loads(made.stdout)["password"]
    assert imap_login_ok(IP, f"alice@{OTHER}", token)
    listed = appliance.call("listAppPasswords", {"address": f"alice@{OTHER}"})["result"]
    assert [(a["name"], a["scopes"]) for a in listed] == [("phone", ["imap", "smtp"])]
    assert token not in json.dumps(listed)
    assert appliance.call("appPasswordDel", {"address": f"alice@{OTHER}", "name": "phone"})["revoked"]
    assert not imap_login_ok(IP, f"alice@{OTHER}", token), "the revoked app password still logs in"
    assert imap_login_ok(IP, f"alice@{OTHER}", SECOND_PW)


def test_reports_mailed_to_postmaster_show_in_get_reports(appliance):
    """The Reports page's method over the real plugin: a DMARC report and a hostile one mailed to the rua."""
    assert appliance.call("userAdd", {"address": f"reports@{DOMAIN}", "password": SECOND_PW})["added"]
    assert appliance.call("aliasAdd", {"source": f"postmaster@{DOMAIN}", "destinations": [f"reports@{DOMAIN}"]})
    day0 = (int(time.time()) // 86400 - 1) * 86400
    records = [{"ip": "198.51.100.9", "count": 3, "header_from": DOMAIN, "dkim": "fail", "spf": "fail"}]
    laughs = rm.report_mail(to=f"postmaster@{DOMAIN}", sender="r@evil.example", subject="Report",
                            when=dt.datetime.now(dt.timezone.utc), attachment=rm.BILLION_LAUGHS,
                            filename="laughs.xml", content_type="text/xml")
    with smtplib.SMTP(IP, 25, local_hostname="client.outside.test", timeout=20) as smtp:
        smtp.sendmail("noreply-dmarc-support@google.com", [f"postmaster@{DOMAIN}"],
                      rm.google_zip(DOMAIN, day0, records, to=f"postmaster@{DOMAIN}"))
        smtp.sendmail("r@evil.example", [f"postmaster@{DOMAIN}"], laughs)
    deadline = time.monotonic() + 30
    while True:
        reply = appliance.call("getReports", {"days": 7})
        if reply["dmarc"]["reports"] == 1 and reply["refused"]:
            break
        assert time.monotonic() < deadline, f"the reports did not show within 30 s: {reply}"
        time.sleep(0.5)
    assert reply["mailboxes"][0]["address"] == f"reports@{DOMAIN}"
    assert [(s["source_ip"], s["dmarc_fail"], s["orgs"]) for s in reply["dmarc"]["sources"]] == [
        ("198.51.100.9", 3, ["google.com"])]
    assert [line.split(": ", 1)[1] for line in reply["refused"]] == [
        "laughs.xml: XML with a DOCTYPE (DTDs and entities are refused)"]
    bad = appliance.call("getReports", {"days": 0}, ok=False)
    assert bad == {"error": "days: 0 is out of range (1-366)", "code": 2}

def test_logs_queue_and_flush(appliance):
    lines = appliance.call("getLogs", {"lines": 200})["result"]
    assert any("status=sent" in line for line in lines), lines[-10:]
    assert len(appliance.call("getLogs", {"lines": 3})["result"]) == 3
    assert appliance.call("getQueue")["result"] == []
    flushed = appliance.call("queueFlush")
    assert flushed.get("error") is None, flushed
    bad = appliance.call("getLogs", {"lines": 0}, ok=False)
    assert bad["code"] == 2 and "lines" in bad["error"]


def test_stop_and_start_are_jobs_and_stick(appliance):
    stopped = appliance.job("serviceAction", {"action": "stop"})
    assert stopped["state"] == "done", stopped
    assert stopped["result"]["container"] == "STOPPED", stopped
    status = _wait_state(appliance, "STOPPED")
    assert status["config"]["enabled"] is False and status["services"] == {}
    off = appliance.call("getQueue", ok=False)
    assert off["code"] == 1 and "not running" in off["error"], off
    # the daemon's reconcile must not bring it back: main.enabled is 0 now
    stays(lambda: appliance.call("getStatus")["container"]["state"] == "STOPPED", seconds=3, interval=0.5,
          what="the container stopped")  # fmt: skip

    started = appliance.job("serviceAction", {"action": "start"})
    assert started["state"] == "done" and started["result"]["container"] == "RUNNING", started
    status = _wait_state(appliance, "RUNNING")
    assert status["config"]["enabled"] is True
    assert imap_login_ok(IP, f"alice@{OTHER}", SECOND_PW)  # accounts survived the restart


def test_install_is_a_job_with_progress(appliance):
    job = appliance.job("install")
    assert job["state"] == "done", job
    assert job["result"]["result"] == "ok" and job["result"]["container"] == "RUNNING", job["result"]
    assert job["result"]["image"] == "present"
    assert job["progress"]["percent"] == 100 and job["messages"], job
    assert imap_login_ok(IP, f"alice@{OTHER}", SECOND_PW)  # a re-install loses no account
    assert all(seconds < FAST for _, seconds in appliance.calls)
    slowest: dict[str, float] = {}
    for method, seconds in appliance.calls:
        slowest[method] = max(seconds, slowest.get(method, 0.0))
    print("slowest plugin call per method (s):", {m: round(s, 2) for m, s in sorted(slowest.items())})
