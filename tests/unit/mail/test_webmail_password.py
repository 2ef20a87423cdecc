"""Password change from the webmail (secumail.appliance.webmailpass): what Roundcube's httpapi driver
sends, what it gets back, and what changes in the account file."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import urllib.parse

import pytest

from secumail.appliance import webmail as appliance_webmail
from secumail.appliance import webmailpass
from secumail.mail import accounts, firewall, webmail
from secumail.mail.passwords import verify_password
from secumail.mail.store import load

ALICE = "alice@example.org"
OLD = "correct horse battery staple"
NEW = "a new and longer passphrase"
WEBMAIL_IP = "10.231.0.3"  # the default container.address + 1


@pytest.fixture
def on(settings):
    on = dataclasses.replace(settings, webmail=dataclasses.replace(settings.webmail, enabled=True))
    os.makedirs(on.main.data_path, exist_ok=True)
    appliance_webmail.password_key(on)  # as `mailctl webmail install` makes it
    return on


@pytest.fixture
def alice(on):
    accounts.user_add(on, ALICE, OLD)
    return on


def _post(fields: dict[str, str], method: str = "POST", key: str | None = None) -> bytes:
    body = urllib.parse.urlencode(fields).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key is not None else ""
    return (f"{method} / HTTP/1.1\r\nHost: 10.231.0.1:8027\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"{auth}Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip


def _ask(settings, request: bytes, tmp_path, peer: str = WEBMAIL_IP) -> tuple[int, str]:
    """One request as the webmail container sends it; (status served, the body Roundcube reads)."""
    server, client = socket.socketpair()
    with server, client:
        client.sendall(request)
        status = webmailpass.serve(server, settings, peer, state=str(tmp_path / "failures.json"))
        server.shutdown(socket.SHUT_WR)
        answer = client.makefile("rb").read().decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ")
    return status, body


def _key(settings) -> str:
    with open(settings.layout.webmail_password_key, encoding="utf-8") as handle:
        return handle.read().strip()


def _change(settings, tmp_path, current: str = OLD, new: str = NEW, user: str = ALICE, peer: str = WEBMAIL_IP,
            key: str | None = "the right one"):  # fmt: skip
    form = dict(zip(webmail.PASSWORD_FIELDS, (user, current, new), strict=True))
    if key == "the right one":
        key = _key(settings) if os.path.exists(settings.layout.webmail_password_key) else None
    return _ask(settings, _post(form, key=key), tmp_path, peer)


def _stored(settings) -> str:
    return load(settings.main.data_path, settings.main.domain).users[ALICE].password_hash


def test_a_good_change_answers_ok_and_the_account_file_has_the_new_password(alice, tmp_path):
    assert _change(alice, tmp_path) == (200, "OK")
    assert verify_password(NEW, _stored(alice)) and not verify_password(OLD, _stored(alice))


def test_a_wrong_current_password_is_refused_and_nothing_changes(alice, tmp_path):
    before = _stored(alice)
    status, body = _change(alice, tmp_path, current="not her password at all")
    assert status == 403 and body == f"{ALICE}: wrong current password; nothing was changed\n"
    assert _stored(alice) == before


def test_an_app_password_does_not_open_the_account_password(alice, tmp_path):
    token = accounts.app_password_add(alice, ALICE, "phone", scope="imap,smtp")["password"]
    before = _stored(alice)
    assert _change(alice, tmp_path, current=token)[0] == 403
    assert _stored(alice) == before


def test_a_weak_new_password_is_refused_with_an_error_roundcube_shows(alice, tmp_path):
    before = _stored(alice)
    status, body = _change(alice, tmp_path, new="tiny-Pw9")
    # any 4xx but 404 is the driver's PASSWORD_ERROR; the body is not its expected /^OK$/ either
    assert status == 400 and "shorter than 10 characters" in body
    assert _stored(alice) == before


def test_only_the_webmail_containers_address_may_ask(alice, tmp_path):
    before = _stored(alice)
    status, body = _change(alice, tmp_path, peer="10.231.0.2")  # the mail container, say
    assert status == 403 and "only the webmail container" in body
    assert _stored(alice) == before


def test_a_request_without_the_webmails_key_is_refused_and_nothing_changes(alice, tmp_path):
    """Someone else on the bridge who took the webmail's address (the mail container, say) has no key."""
    before = _stored(alice)
    key = _key(alice)
    assert len(key) == appliance_webmail.PASSWORD_KEY_LENGTH
    for wrong in (None, "", key[:-1], key + "x", key.swapcase()):
        status, body = _change(alice, tmp_path, key=wrong)
        assert status == 403 and body == "the request does not carry the webmail's password key\n", (wrong, body)
    assert _stored(alice) == before
    assert _change(alice, tmp_path, current="wrong wrong wrong", key=None)[0] == 403
    assert not (tmp_path / "failures.json").exists()  # nothing counted against her mailbox
    assert _change(alice, tmp_path) == (200, "OK")


def test_without_a_key_file_nothing_is_served(alice, tmp_path):
    key = _key(alice)
    os.unlink(alice.layout.webmail_password_key)
    status, body = _change(alice, tmp_path, key=key)
    assert status == 403 and "mailctl webmail configure" in body
    assert verify_password(OLD, _stored(alice))


def test_the_key_is_made_once_and_kept_root_only(on):
    key = _key(on)
    assert appliance_webmail.password_key(on) == key
    assert os.stat(on.layout.webmail_password_key).st_mode & 0o777 == 0o600


def test_nothing_is_served_while_the_webmail_is_off(settings, tmp_path):
    accounts.user_add(settings, ALICE, OLD)
    assert _change(settings, tmp_path)[0] == 403
    assert verify_password(OLD, _stored(settings))


def test_five_wrong_passwords_lock_the_mailbox_for_a_while(alice, tmp_path):
    for _ in range(webmailpass.MAX_FAILURES):
        assert _change(alice, tmp_path, current="wrong wrong wrong")[0] == 403
    status, body = _change(alice, tmp_path)  # even the right one, until the window has passed
    assert status == 429 and "too many" in body
    assert verify_password(OLD, _stored(alice))


def test_unknown_mailbox_and_bad_requests(alice, tmp_path):
    assert _change(alice, tmp_path, user="nobody@example.org")[0] == 403  # like a wrong password
    assert _ask(alice, _post({"user": ALICE}), tmp_path)[0] == 400
    assert _ask(alice, b"GET / HTTP/1.1\r\n\r\n", tmp_path)[0] == 405
    assert _ask(alice, b"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", tmp_path)[0] == 413


def test_no_password_reaches_the_log(alice, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    token = accounts.app_password_add(alice, ALICE, "phone")["password"]
    _change(alice, tmp_path, current="wrong wrong wrong")
    _change(alice, tmp_path, current=token)
    _change(alice, tmp_path, new="tiny-Pw9")
    _change(alice, tmp_path, peer="192.0.2.1")
    assert _change(alice, tmp_path)[0] == 200
    assert "webmail password change for alice@example.org" in caplog.text
    for secret in (OLD, NEW, token, "wrong wrong wrong", "tiny-Pw9"):
        assert secret not in caplog.text


def test_roundcube_is_configured_to_post_to_the_hosts_bridge_address(on):
    assert webmail.plugins(on)[-1] == "password"
    text = webmail.password_config(on, "k" * 40)
    assert '$config["password_http_client"] = ["timeout" => 20, "headers" => ["Authorization" => "Bearer ' \
           + "k" * 40 + '"]];' in text
    assert '$config["password_driver"] = "httpapi";' in text
    assert '$config["password_httpapi_url"] = "http://10.231.0.1:8027/";' in text
    assert r'$config["password_httpapi_expect"] = "/^OK\$/";' in text  # PHP reads \$ as a plain $
    assert '$config["password_minimum_length"] = 10;' in text
    off = dataclasses.replace(on, webmail=dataclasses.replace(on.webmail, password_port=0))
    assert "password" not in webmail.plugins(off)


def test_the_firewall_lets_only_the_webmail_container_reach_the_port(on):
    script = firewall.input_policy_script("br-mail", firewall.webmail_input(on))
    rule = 'iifname "br-mail" ip saddr 10.231.0.3 tcp dport 8027 accept\n'
    assert rule in script and script.index(rule) < script.index("reject with tcp reset")
    zone = firewall.desired(dataclasses.replace(on, main=dataclasses.replace(on.main, enabled=True)))
    assert zone["secumail_zone_webmail_password"]["src_ip"] == "10.231.0.3"
    assert zone["secumail_zone_webmail_password"]["dest_port"] == "8027"


def test_the_worker_secumaild_starts_serves_one_connection(confdir, settings, tmp_path, cli):
    """`python -m secumail.appliance.webmailpass --fd N` as secumaild runs it, with settings read from UCI
    (here the host is 127.0.0.1 on the "bridge" and the webmail container 127.0.0.3)."""
    import subprocess
    import sys

    text = (confdir / "mailserver").read_text().replace(
        "config container 'container'\n",
        "config container 'container'\n\toption host_address '127.0.0.1/8'\n\toption address '127.0.0.2/8'\n")
    (confdir / "mailserver").write_text(text + "\nconfig webmail 'webmail'\n\toption enabled '1'\n")
    assert cli("user", "add", ALICE, "--password-stdin", stdin=OLD + "\n").code == 0
    key = appliance_webmail.password_key(settings)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), source_address=("127.0.0.3", 0))
        conn, _addr = listener.accept()
    form = dict(zip(webmail.PASSWORD_FIELDS, (ALICE, OLD, NEW), strict=True))
    with client, conn:
        client.sendall(_post(form, key=key))
        worker = subprocess.run([sys.executable, "-m", "secumail.appliance.webmailpass", "--confdir", str(confdir),
                                 "--fd", str(conn.fileno()), "--state", str(tmp_path / "failures.json")],
                                pass_fds=(conn.fileno(),), capture_output=True, text=True, timeout=60)  # fmt: skip
        conn.close()
        answer = client.makefile("rb").read().decode()
    assert worker.returncode == 0, worker.stderr
    assert answer.startswith("HTTP/1.1 200 OK\r\n") and answer.endswith("\r\n\r\nOK")
    assert verify_password(NEW, _stored(settings))
    assert OLD not in worker.stderr and NEW not in worker.stderr


def test_a_request_that_trickles_in_is_given_up(alice, tmp_path, monkeypatch):
    monkeypatch.setattr(webmailpass, "READ_TIMEOUT", 0.3)
    server, client = socket.socketpair()
    with server, client:
        client.sendall(b"POST / HTTP/1.1\r\n")  # and nothing more
        assert webmailpass.serve(server, alice, WEBMAIL_IP, state=str(tmp_path / "failures.json")) == 400
