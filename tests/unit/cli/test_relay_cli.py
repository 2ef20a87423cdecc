"""mailctl relay add|del|list|test through the real UCI backend: the password only on stdin, never in UCI."""

from __future__ import annotations

import json
import os
import stat

PASSWORD = "Relay-pw 0f the ISP"


def _add(cli, *extra, stdin=PASSWORD + "\n"):
    return cli("relay", "add", "isp", "smtp.isp.example", "--user", "me@isp.example", "--password-stdin", *extra,
               stdin=stdin)


def test_relay_add_keeps_the_password_in_a_0600_file_and_never_in_uci(cli, confdir, tmp_path):
    r = _add(cli)
    assert r.code == 0, r.err
    assert r.out.strip() == ("relay isp: me@isp.example at [smtp.isp.example]:587 (starttls), default relayhost "
                             "(takes effect at 'mailctl install')")
    uci = (confdir / "mailserver").read_text()
    assert "config relay 'isp'" in uci and "smtp.isp.example" in uci and PASSWORD not in uci
    path = tmp_path / "data" / "relay" / "isp.password"
    assert path.read_text() == PASSWORD + "\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert PASSWORD not in r.out + r.err


def test_relay_list_never_shows_the_password(cli, confdir):
    _add(cli, "--sender-domain", "example.org", "--no-verify")
    r = cli("relay", "list", "--json")
    assert r.code == 0 and PASSWORD not in r.out
    (row,) = json.loads(r.out)
    assert row == {"name": "isp", "host": "smtp.isp.example", "port": 587, "tls": "starttls", "verify": False,
                   "user": "me@isp.example", "sender_domain": ["example.org"], "default": False,
                   "password_stored": True}


def test_relay_del_removes_the_section_and_the_password(cli, confdir, tmp_path):
    _add(cli)
    r = cli("relay", "del", "isp")
    assert r.code == 0 and r.out.strip() == "relay isp deleted"
    assert "config relay" not in (confdir / "mailserver").read_text()
    assert not (tmp_path / "data" / "relay" / "isp.password").exists()
    r = cli("relay", "del", "isp")
    assert r.code == 2 and r.err == "mailctl: no relay named 'isp' (see 'mailctl relay list')\n"


def test_a_refused_relay_changes_nothing(cli, confdir, tmp_path):
    before = (confdir / "mailserver").read_text()
    r = _add(cli, "--tls", "starttls", "--port", "465")
    assert r.code != 0 and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert r.err.startswith("mailctl: mailserver.isp.port: '465' is the TLS-wrapper port"), r.err
    assert (confdir / "mailserver").read_text() == before
    assert not (tmp_path / "data" / "relay" / "isp.password").exists()


def test_a_replaced_relay_keeps_its_old_password_when_the_change_is_refused(cli, confdir, tmp_path):
    _add(cli)
    r = _add(cli, "--port", "465", stdin="new password\n")
    assert r.code != 0
    assert (tmp_path / "data" / "relay" / "isp.password").read_text() == PASSWORD + "\n"


def test_the_password_is_never_an_argument(cli, confdir):
    r = cli("relay", "add", "isp", "smtp.isp.example", "--user", "me", "--password", PASSWORD)
    assert r.code == 2 and "unrecognized arguments" in r.err
    r = cli("relay", "add", "isp", "smtp.isp.example", "--user", "me", stdin="")
    assert r.code == 2 and r.err == "mailctl: no terminal to ask for a password: use --password-stdin\n"


def test_relay_test_without_relays_is_one_line(cli, confdir):
    r = cli("relay", "test")
    assert r.code == 2 and r.err == "mailctl: no relay configured (see 'mailctl relay add --help')\n"


def test_relay_test_failure_is_one_line_and_exit_1(cli, confdir):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    r = cli("relay", "add", "lo", "127.0.0.1", "--port", str(port), "--user", "me", "--password-stdin",
            stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    r = cli("relay", "test", "lo", "--timeout", "3")
    assert r.code == 1
    assert r.out.startswith(f"relay lo: cannot connect to [127.0.0.1]:{port}: ") and r.out.count("\n") == 1
    assert PASSWORD not in r.out + r.err


def test_a_password_option_cannot_be_put_in_uci(cli, confdir):
    _add(cli)
    r = cli("config", "set", "mailserver.isp.password", "x")
    assert r.code == 2 and r.err.startswith("mailctl: mailserver.isp.password: unknown option (known: host, port,")
    assert "option password" not in (confdir / "mailserver").read_text()


def test_a_relay_cannot_take_the_name_of_another_section(cli, confdir):
    before = (confdir / "mailserver").read_text()
    r = cli("relay", "add", "main", "smtp.isp.example", "--user", "me", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.code == 2
    assert r.err == ("mailctl: relay name 'main' is taken by the section mailserver.main (config mailserver): "
                     "choose another name\n")
    assert (confdir / "mailserver").read_text() == before


def test_relay_test_records_its_result_and_a_changed_relay_forgets_it(cli, confdir, tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    add = ("relay", "add", "lo", "127.0.0.1", "--port", str(port), "--user", "me", "--password-stdin")
    assert cli(*add, stdin=PASSWORD + "\n").code == 0
    r = cli("relay", "test", "lo", "--timeout", "3")
    assert r.code == 1
    recorded = json.loads((tmp_path / "data" / "dns" / "relay-tests.json").read_text())
    assert recorded["lo"]["ok"] is False and recorded["lo"]["message"] == r.out.strip()
    assert PASSWORD not in json.dumps(recorded)
    assert cli(*add, stdin=PASSWORD + "\n").code == 0  # changed: the old result says nothing any more
    assert "lo" not in json.loads((tmp_path / "data" / "dns" / "relay-tests.json").read_text())
