"""features.spam_filter 0 (the light path) against mail from a stranger's server: SPF fail and a
p=reject DMARC failure refused at SMTP time, an unknown sender domain temp-failed, clean mail in INBOX
with Authentication-Results; and what the container costs in memory with and without Rspamd
(docs/protection.md, "Light path" and "Memory").

The session's world runs the spam filter: this module switches it off (a deploy, as `mailctl config
set features.spam_filter 0` does) and back on when it is done.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.protection.conftest import FRESH, _wait_rspamd
from tests.integration.protection.test_memory import cgroup_memory, process_memory
from tests.integration.protection.test_spam_filter import PROSE, _find, _headers

pytestmark = pytest.mark.integration

SETTLE = 20  # seconds of idle before memory is read (spawned helpers exit, startup peaks pass)
# The light path's own daemons: what spam_filter 0 adds to the base container, KiB of PSS.
LIGHT_PSS_KIB = 16 * 1024
# One SMTP transaction from the stranger that stops at the first refusal; `out` holds each answer.
SEND_UNTIL_REFUSED = """
with smtplib.SMTP(server, 25, local_hostname="mx2.stranger.test", source_address=(source, 0), timeout=60) as smtp:
    smtp.ehlo()
    out = {}
    for step, call in (("mail", lambda: smtp.mail(sender)), ("rcpt", lambda: smtp.rcpt(rcpt)),
                       ("data", lambda: smtp.data(msg.encode()))):
        code, text = call()
        out[step], out[step + "_text"] = code, text.decode()
        if code >= 400:
            break
"""


def _memory(world) -> dict:
    procs = process_memory(world)
    return {"cgroup": cgroup_memory(world), "pss_mib": sum(p for _, p in procs.values()) >> 10,
            "by_process_kib": {k: v[1] for k, v in sorted(procs.items(), key=lambda i: -i[1][1])}}


def _deploy(world, settings) -> None:
    from secumail.appliance import ownership
    from secumail.mail import deploy

    deploy.deploy(settings, world.lxc.container, hand_over=ownership.ContainerRuntime(settings).hand_over)


def _wait_socket(world, path: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while world.exec(["test", "-S", path]).returncode != 0:
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def light(protected) -> Iterator[dict]:
    """The world with features.spam_filter 0; yields the memory read just before the switch (filter on,
    idle). Puts the filter back afterwards for the other modules."""
    time.sleep(SETTLE)
    before = _memory(protected)
    on = protected.settings
    off = dataclasses.replace(on, features=dataclasses.replace(on.features, spam_filter=False))
    state = {"spam_filter_1": before, "back_on": False}
    _deploy(protected, off)
    try:
        _wait_socket(protected, "/var/spool/postfix/opendmarc/opendmarc.sock")
        yield state
    finally:
        if not state["back_on"]:  # the last test failed or did not run: the other modules need the filter
            _deploy(protected, on)
            _wait_rspamd(protected)


def _send(world, *, sender: str, header_from: str, extra: str = "") -> tuple[str, dict]:
    token = uuid.uuid4().hex
    msg = (f"From: <{header_from}>\r\nTo: alice@example.org\r\nSubject: light {token}\r\n{extra}"
           f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
           f"Message-ID: <{token}@stranger.test>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{PROSE}\r\ntoken {token}\r\n")  # fmt: skip
    out = world.outside(SEND_UNTIL_REFUSED, server=world.ip, source=FRESH, sender=sender,
                        rcpt="alice@example.org", msg=msg)  # fmt: skip
    return token, out


def test_the_light_path_runs_without_rspamd_and_costs_a_few_mib(protected, light):
    time.sleep(SETTLE)
    after = _memory(protected)
    running = after["by_process_kib"]
    assert "opendmarc" in running and not [p for p in running if p.startswith(("rspamd", "redis"))], running
    print(f"\nspam_filter 1 idle (first start): {light['spam_filter_1']}\nspam_filter 0 idle: {after}")
    light_pss = after["by_process_kib"].get("opendmarc", 0)
    assert light_pss < LIGHT_PSS_KIB, after
    assert after["pss_mib"] < light["spam_filter_1"]["pss_mib"], (after, light["spam_filter_1"])


def test_a_clean_message_lands_in_inbox_with_authentication_results(protected, light):
    token, out = _send(protected, sender="friend@stranger.test", header_from="friend@stranger.test")
    assert out["data"] == 250, out
    # smtpd keeps its policy connection while it idles: the SPF service's cost while mail comes in
    busy = {k: v for k, v in _memory(protected)["by_process_kib"].items() if k.startswith(("postfix-policy", "perl"))}
    print(f"\nSPF policy service after one message (PSS KiB): {busy}")
    folder, raw = _find(protected, token)
    headers = _headers(raw)
    assert folder == "INBOX"
    results = [h for h in headers.split("\nAuthentication-Results: ")[1:] if h.startswith("mail.example.org;")]
    verdicts = " ".join(results)
    assert "spf=pass smtp.mailfrom=stranger.test" in verdicts, headers
    assert "dmarc=pass" in verdicts and "header.from=stranger.test" in verdicts, headers
    assert "\nReceived-SPF: pass (" in headers, headers  # the policy service's verdict at RCPT


def test_a_sender_failing_spf_minus_all_is_refused(protected, light):
    _, out = _send(protected, sender="ceo@strict.test", header_from="ceo@strict.test")
    assert out["rcpt"] == 550 and "spf" in out["rcpt_text"].lower(), out
    assert "data" not in out


def test_a_message_failing_a_published_dmarc_reject_policy_is_refused(protected, light):
    # The envelope (stranger.test) passes SPF; the From domain strict.test is not aligned with it, has
    # no DKIM signature and publishes p=reject. A forged verdict naming this server does not help.
    forged = "Authentication-Results: mail.example.org; dkim=pass header.d=strict.test; dmarc=pass\r\n"
    _, out = _send(protected, sender="friend@stranger.test", header_from="ceo@strict.test", extra=forged)
    assert out["rcpt"] == 250, out
    assert out["data"] == 550 and "DMARC" in out["data_text"] and "strict.test" in out["data_text"], out


def test_an_unknown_sender_domain_is_temp_failed(protected, light):
    _, out = _send(protected, sender="someone@nosuch.stranger.test", header_from="someone@nosuch.stranger.test")
    assert out["rcpt"] == 450 and "Domain not found" in out["rcpt_text"], out


def test_switching_the_filter_back_on_in_the_running_container_works(protected, light):
    """Last in this module: it leaves the world as the other modules expect it. Dovecot's sieve
    compiler used to read the running (filter off) config and refuse the learning scripts."""
    _deploy(protected, protected.settings)
    light["back_on"] = True
    _wait_rspamd(protected)
    time.sleep(SETTLE)
    again = _memory(protected)
    print(f"\nspam_filter 1 idle (restarted, Rspamd's cache in place): {again}")
    assert "opendmarc" not in again["by_process_kib"] and "rspamd" in again["by_process_kib"], again
