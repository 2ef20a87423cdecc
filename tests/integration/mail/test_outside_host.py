"""The mail server as a host on the Internet sees it: a second network namespace on the mail world's
bridge (10.232.0.50, no default route) plays a stranger's mail server and a roaming client."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.integration

NS, VETH_HOST, VETH_NS = "smmailout", "smmailo0", "smmailo1"
OUTSIDE_IP = "10.232.0.50"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _remove() -> None:
    _ip("netns", "del", NS, check=False)
    _ip("link", "del", VETH_HOST, check=False)  # gone with the namespace, unless it never moved


@pytest.fixture(scope="module")
def outside(mailworld) -> Iterator[str]:
    """The namespace's name; torn down even when a test fails."""
    _remove()  # a killed earlier run
    try:
        _ip("netns", "add", NS)
        _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _ip("link", "set", VETH_NS, "netns", NS)
        _ip("link", "set", VETH_HOST, "master", "smmail0", "up")
        _ip("netns", "exec", NS, "ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", VETH_NS)
        _ip("netns", "exec", NS, "ip", "link", "set", VETH_NS, "up")
        _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")
        routes = _ip("netns", "exec", NS, "ip", "route").stdout
        assert "default" not in routes, routes
        yield NS
    finally:
        with contextlib.suppress(Exception):
            _remove()


def _in_outside(code: str, **values) -> dict:
    """Run Python `code` inside the namespace; it gets `values` as globals and sets `out` (a dict)."""
    script = "import json, smtplib, ssl\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    script += textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_outside_host_is_not_the_mail_hosts_neighbour(outside, mailworld):
    """Sanity: it reaches the container but has no route anywhere else."""
    out = _in_outside("""
        import socket
        s = socket.create_connection((server, 25), timeout=10)
        out = {"banner": s.recv(100).decode(), "local": s.getsockname()[0]}
        try:
            socket.create_connection(("192.0.2.1", 25), timeout=2)
            out["elsewhere"] = "reached"
        except OSError as exc:
            out["elsewhere"] = str(exc)
    """, server=mailworld.ip)
    assert out["banner"].startswith("220 ") and out["local"] == OUTSIDE_IP
    assert out["elsewhere"] != "reached"


def test_relay_from_outside_without_auth_gets_554(outside, mailworld):
    out = _in_outside("""
        with smtplib.SMTP(server, 25, local_hostname="mx.stranger.test", timeout=20) as smtp:
            smtp.ehlo()
            smtp.mail("spammer@stranger.test")
            code, text = smtp.rcpt("victim@elsewhere.test")
        out = {"code": code, "text": text.decode()}
    """, server=mailworld.ip)
    assert out["code"] == 554 and "Relay access denied" in out["text"], out


def test_delivery_from_outside_to_a_local_user_is_accepted(outside, mailworld):
    from tests.integration.mail.client import imap_find, make_message

    token, msg = make_message("alice@example.org", sender="friend@stranger.test")
    out = _in_outside("""
        with smtplib.SMTP(server, 25, local_hostname="mx.stranger.test", timeout=20) as smtp:
            refused = smtp.sendmail("friend@stranger.test", ["alice@example.org"], msg)
        out = {"refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}}
    """, server=mailworld.ip, msg=msg)
    assert out["refused"] == {}
    raw = imap_find(mailworld.ip, "alice@example.org", token)
    assert f"[{OUTSIDE_IP}]".encode() in raw  # Received: names the outside host


def test_submission_from_outside_cannot_authenticate_without_tls(outside, mailworld):
    from tests.integration.mail.world import PASSWORDS

    password = PASSWORDS["alice@example.org"]
    token = base64.b64encode(f"\0alice@example.org\0{password}".encode()).decode()
    out = _in_outside("""
        with smtplib.SMTP(server, 587, local_hostname="laptop.stranger.test", timeout=20) as smtp:
            smtp.ehlo()
            out = {"auth_offered": smtp.has_extn("auth")}
            code, text = smtp.docmd("AUTH", "PLAIN " + token)  # try anyway, ignoring the EHLO answer
            out["auth_code"], out["auth_text"] = code, text.decode()
            smtp.rset()
            smtp.mail(user)
            out["rcpt"] = smtp.rcpt("victim@elsewhere.test")[0]
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP(server, 587, local_hostname="laptop.stranger.test", timeout=20) as smtp:
            smtp.starttls(context=ctx)
            smtp.ehlo()
            out["auth_after_tls"] = smtp.has_extn("auth")
            out["login"] = smtp.login(user, password)[0]
    """, server=mailworld.ip, user="alice@example.org", password=password, token=token)
    assert out["auth_offered"] is False
    assert out["auth_code"] >= 500 and out["rcpt"] >= 500, out
    assert out["auth_after_tls"] is True and out["login"] == 235, out


def test_auth_is_never_offered_on_25_nor_before_starttls_on_587_143_110(outside, mailworld):
    out = _in_outside("""
        import imaplib, poplib
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        out = {}
        with smtplib.SMTP(server, 25, local_hostname="mx.stranger.test", timeout=20) as smtp:
            smtp.ehlo()
            out["25"] = smtp.has_extn("auth")
            smtp.starttls(context=ctx)
            smtp.ehlo()
            out["25 tls"] = smtp.has_extn("auth")
            out["25 try"] = smtp.docmd("AUTH", "PLAIN AGFsaWNlAHgK")[0]
        with smtplib.SMTP(server, 587, local_hostname="laptop.stranger.test", timeout=20) as smtp:
            smtp.ehlo()
            out["587"] = smtp.has_extn("auth")
        imap = imaplib.IMAP4(server, 143, timeout=20)
        caps = imap.capability()[1][0].decode().split()
        out["143"] = [c for c in caps if c.startswith("AUTH=")]
        out["143 logindisabled"] = "LOGINDISABLED" in caps
        try:
            imap.login("alice@example.org", "x")
            out["143 login"] = "accepted"
        except imaplib.IMAP4.error as exc:
            out["143 login"] = str(exc)
        imap.logout()
        pop = poplib.POP3(server, 110, timeout=20)
        capa = pop.capa()
        out["110"] = capa.get("SASL", []) + (["USER"] if "USER" in capa else [])  # mechanisms offered
        try:
            pop.user("alice@example.org")
            out["110 user"] = "accepted"
        except poplib.error_proto as exc:
            out["110 user"] = str(exc)
        pop.quit()
    """, server=mailworld.ip)
    assert out["25"] is False and out["25 tls"] is False and out["25 try"] >= 500, out
    assert out["587"] is False, out
    assert out["143"] == [] and out["143 logindisabled"] and out["143 login"] != "accepted", out
    assert out["110"] == [] and out["110 user"] != "accepted", out


@pytest.mark.parametrize("case", ["plain", "fake auth", "null sender", "percent hack", "source route"])
def test_relay_to_an_outside_domain_is_refused(outside, mailworld, case):
    sender = "" if case == "null sender" else "spammer@stranger.test"
    recipient = {"percent hack": "victim%elsewhere.test@example.org",
                 "source route": "@a.example.org,@b.example.org:victim@elsewhere.test"}.get(
                     case, "victim@elsewhere.test")  # fmt: skip
    out = _in_outside("""
        with smtplib.SMTP(server, 25, local_hostname="mx.stranger.test", timeout=20) as smtp:
            smtp.ehlo()
            out = {}
            if fake_auth:
                out["auth"] = smtp.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHdyb25n")[0]
            out["mail"] = smtp.docmd("MAIL", "FROM:<%s>" % sender)[0]
            code, text = smtp.docmd("RCPT", "TO:<%s>" % recipient)
            out["rcpt"], out["text"] = code, text.decode()
            if code < 400:
                out["data"] = smtp.docmd("DATA")[0]
                if out["data"] == 354:
                    out["sent"] = smtp.docmd("Subject: relay\\r\\n\\r\\nrelayed?\\r\\n.")[0]
    """, server=mailworld.ip, sender=sender, recipient=recipient, fake_auth=case == "fake auth")
    assert out["rcpt"] >= 500, out
    queued = mailworld.exec(["postqueue", "-j"]).stdout
    assert "elsewhere.test" not in queued, queued


def test_sending_as_another_user_on_587_is_refused(outside, mailworld):
    from tests.integration.mail.world import PASSWORDS

    out = _in_outside("""
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP(server, 587, local_hostname="laptop.stranger.test", timeout=20) as smtp:
            smtp.starttls(context=ctx)
            smtp.login(user, password)
            out = {}
            for sender in ("bob@example.org", "carol@example.net", "someone@elsewhere.test"):
                smtp.rset()
                smtp.docmd("MAIL", "FROM:<%s>" % sender)
                out[sender or "<>"] = smtp.rcpt("bob@example.org")[0]
    """, server=mailworld.ip, user="alice@example.org", password=PASSWORDS["alice@example.org"])
    assert all(code >= 500 for code in out.values()), out
