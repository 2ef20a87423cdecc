"""Smarthosts: `config relay` parsing and its one-line errors, Postfix rendering, the password files."""

from __future__ import annotations

import os
import socket
import stat
import threading

import pytest

from secumail.config.settings import default_package, settings_from_package
from secumail.errors import ConfigError
from secumail.mail import relay as secrets
from secumail.mail.render import render_all

PASSWORD = "s3cret relay pw"


def _package(tmp_path, **relays):
    package = default_package()
    package["main"].update({"domain": "example.org", "data_path": str(tmp_path / "data")})
    for index, (name, options) in enumerate(relays.items()):
        package[name] = {".type": "relay", ".name": name, ".anonymous": False, ".index": 100 + index, **options}
    return package


def _settings(tmp_path, **relays):
    return settings_from_package(_package(tmp_path, **relays))


ISP = {"host": "smtp.isp.example", "user": "me@isp.example"}


def test_a_relay_section_has_safe_defaults(tmp_path):
    s = _settings(tmp_path, isp=ISP)
    (relay,) = s.relays
    assert (relay.name, relay.host, relay.port, relay.tls, relay.verify) == ("isp", "smtp.isp.example", 587,
                                                                             "starttls", True)
    assert relay.nexthop == "[smtp.isp.example]:587" and s.default_relay is relay


@pytest.mark.parametrize("options, path, message", [
    ({"user": "me"}, "mailserver.isp.host", "is not an IP address or a host name"),
    ({"host": "smtp.isp.example"}, "mailserver.isp.user", "is required"),
    ({**ISP, "user": "me:x"}, "mailserver.isp.user", "is not a valid login"),
    ({**ISP, "tls": "none"}, "mailserver.isp.tls", "is not one of"),  # never plain text
    ({**ISP, "tls": "plain"}, "mailserver.isp.tls", "is not one of"),
    ({**ISP, "port": "465"}, "mailserver.isp.port", "TLS-wrapper port"),
    ({**ISP, "port": "0"}, "mailserver.isp.port", "is not a valid port"),
    ({**ISP, "sender_domain": ("not a domain",)}, "mailserver.isp.sender_domain", "domain"),
    ({**ISP, "password": "x"}, None, None),  # an unknown option is ignored by the loader; config set refuses it
])
def test_bad_relay_options_fail_with_one_line_naming_the_option(tmp_path, options, path, message):
    if path is None:
        assert _settings(tmp_path, isp=options).relays
        return
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, isp=options)
    text = str(info.value)
    assert text.startswith(path) and message in text and "\n" not in text, text


def test_one_default_relay_and_each_sender_domain_once(tmp_path):
    with pytest.raises(ConfigError, match=r"^mailserver.second.sender_domain: .*already the default relay"):
        _settings(tmp_path, first=ISP, second=ISP)
    both = {**ISP, "sender_domain": ("a.example",)}
    with pytest.raises(ConfigError, match=r"^mailserver.two.sender_domain: 'a.example' is already relayed by "
                                          r"mailserver.one"):
        _settings(tmp_path, one=both, two=both)


def test_an_anonymous_relay_section_is_refused(tmp_path):
    package = _package(tmp_path)
    package["cfg0123"] = {".type": "relay", ".name": "cfg0123", ".anonymous": True, ".index": 50, **ISP}
    with pytest.raises(ConfigError, match="needs a name"):
        settings_from_package(package)


def _main(files):
    return files["postfix/main.cf"][0]


def test_without_a_relay_postfix_sends_directly_and_never_authenticates(tmp_path):
    files = render_all(_settings(tmp_path), [])
    assert "relayhost" not in _main(files) and "smtp_sasl_auth_enable = yes" not in _main(files)
    assert not any(name.startswith("postfix/relay") for name in files)
    assert "relaytls" not in files["postfix/master.cf"][0]


def test_the_default_relay_is_the_relayhost_with_tls_required_and_sasl_only_inside_it(tmp_path):
    files = render_all(_settings(tmp_path, isp=ISP), [])
    main = _main(files)
    assert "\nrelayhost = [smtp.isp.example]:587\n" in main
    assert "\nsmtp_sasl_auth_enable = yes\n" in main
    assert "\nsmtp_sasl_password_maps = texthash:/etc/postfix/sasl/relay_passwd\n" in main
    assert "\nsmtp_sasl_security_options = noanonymous, noplaintext\n" in main
    assert "\nsmtp_sasl_tls_security_options = noanonymous\n" in main
    assert "policy_maps = texthash:/srv/mailserver/config/live/postfix/relay_tls\n" in main
    assert files["postfix/relay_tls"][0] == "[smtp.isp.example]:587 secure\n"
    assert "sender_dependent" not in main and "default_transport" not in main
    # the generation is world-readable: no secret in any of its files
    assert not any(PASSWORD in content or "sasl_passwd" in name for name, (content, _) in files.items())


def test_per_domain_relays_use_sender_dependent_maps_and_authentication(tmp_path):
    s = _settings(tmp_path, isp={**ISP, "verify": "0"},
                  biz={"host": "192.0.2.25", "user": "biz", "sender_domain": ("example.net", "b.example")})
    files = render_all(s, ["example.net"])
    main = _main(files)
    assert "\nrelayhost = [smtp.isp.example]:587\n" in main
    assert "\nsender_dependent_relayhost_maps = texthash:/srv/mailserver/config/live/postfix/relay_senders\n" in main
    assert "\nsmtp_sender_dependent_authentication = yes\n" in main
    assert files["postfix/relay_senders"][0] == "@example.net [192.0.2.25]:587\n@b.example [192.0.2.25]:587\n"
    assert files["postfix/relay_tls"][0] == "[smtp.isp.example]:587 encrypt\n[192.0.2.25]:587 secure\n"


def test_a_tls_wrapper_relay_gets_its_own_transport(tmp_path):
    s = _settings(tmp_path, isp={**ISP, "tls": "tls", "port": "465"},
                  biz={"host": "192.0.2.25", "user": "biz", "sender_domain": ("example.net",)})
    files = render_all(s, [])
    main, master = _main(files), files["postfix/master.cf"][0]
    assert "\nrelaytls unix" in master and "-o smtp_tls_wrappermode=yes" in master
    assert "\ndefault_transport = relaytls:[smtp.isp.example]:465\n" in main
    assert "\nrelayhost =\n" in main  # default_transport's next hop wins anyway: say so plainly
    assert files["postfix/relay_transport"][0] == "@example.net smtp:[192.0.2.25]:587\n"


def test_the_password_file_and_the_map_are_root_only(tmp_path):
    s = _settings(tmp_path, isp=ISP, biz={"host": "192.0.2.25", "user": "biz", "sender_domain": ("example.net",)})
    data = s.main.data_path
    path = secrets.write_password(data, "isp", PASSWORD)
    secrets.write_password(data, "biz", "other pw")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert secrets.read_password(data, "isp") == PASSWORD
    secrets.write_map(s)
    assert stat.S_IMODE(os.stat(s.layout.relay_map).st_mode) == 0o600
    with open(s.layout.relay_map) as handle:
        assert handle.read() == (f"@example.net biz:other pw\n[smtp.isp.example]:587 me@isp.example:{PASSWORD}\n"
                                 "[192.0.2.25]:587 biz:other pw\n")
    secrets.write_map(_settings(tmp_path))  # the last relay removed: so is the map
    assert not os.path.exists(s.layout.relay_map)


@pytest.mark.parametrize("bad", ["", "two\nlines", "nul\0", "x" * 1025])
def test_a_password_postfix_could_not_hold_is_refused(tmp_path, bad):
    with pytest.raises(Exception, match="1-1024 characters on one line"):
        secrets.write_password(str(tmp_path), "isp", bad)
    assert not os.path.exists(tmp_path / "relay" / "isp.password")


def test_a_missing_password_is_one_line_saying_what_to_do(tmp_path):
    s = _settings(tmp_path, isp=ISP)
    with pytest.raises(Exception, match=r"^relay isp: no password stored .*mailctl relay add"):
        secrets.write_map(s)


class _FakeRelay:
    """A one-connection SMTP server on loopback that offers AUTH but no STARTTLS, and records the commands."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rwb") as f:
            f.write(b"220 fake ESMTP\r\n")
            f.flush()
            for raw in f:
                line = raw.decode().strip()
                self.commands.append(line)
                verb = line.split(" ")[0].upper()
                if verb == "EHLO":
                    f.write(b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb == "QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    return
                else:
                    f.write(b"235 ok\r\n" if verb == "AUTH" else b"250 ok\r\n")
                f.flush()


def test_relay_test_never_logs_in_without_tls(tmp_path):
    from secumail.mail.relaytest import probe

    server = _FakeRelay()
    relay = _settings(tmp_path, isp={"host": "127.0.0.1", "port": str(server.port), "user": "me"}).relays[0]
    result = probe(relay, PASSWORD, helo="mail.example.org", timeout=5)
    server.thread.join(5)
    assert not result.ok and result.stage == "connect"
    assert result.message == (f"relay isp: [127.0.0.1]:{server.port} does not offer STARTTLS: nothing was sent "
                              "(no login without TLS)")
    assert not any(c.upper().startswith("AUTH") for c in server.commands), server.commands


def test_relay_test_says_in_one_line_that_nobody_answers(tmp_path):
    from secumail.mail.relaytest import probe

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    relay = _settings(tmp_path, isp={"host": "127.0.0.1", "port": str(port), "user": "me"}).relays[0]
    result = probe(relay, PASSWORD, helo="mail.example.org", timeout=5)
    assert not result.ok and result.message.startswith(f"relay isp: cannot connect to [127.0.0.1]:{port}: ")
    assert "\n" not in result.message and PASSWORD not in result.message
