"""features.dav: Radicale's files, Dovecot's auth socket for it, the port in the firewall and SRV records."""

from __future__ import annotations

import ast
import configparser
from importlib import resources

import pytest

from secumail.config.settings import ConfigError
from secumail.dns.records import Keys, desired_records
from secumail.mail import dav, firewall, render
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN

KEYS = Keys(dkim={}, ipv4="192.0.2.10")


def _render(tmp_path, **sections):
    return render.render_all(make_settings(tmp_path / "data", **sections), ["example.org"], GEN)


def test_off_by_default_nothing_of_radicale_is_rendered_and_the_reload_stops_it(tmp_path):
    files = _render(tmp_path)
    assert not [name for name in files if name.startswith("dav/")]
    assert "auth-dav" not in files["dovecot/dovecot.conf"][0]
    reload = files["container/reload"][0]
    assert "stop_pid /run/radicale/radicale.pid" in reload and "radicale --config" not in reload


def test_on_radicale_listens_with_tls_and_asks_dovecot(tmp_path):
    files = _render(tmp_path, features={"dav": "1"}, ports={"dav": "8443"})
    conf = configparser.ConfigParser()
    conf.read_string(files["dav/radicale.conf"][0])
    assert conf["server"]["hosts"] == "0.0.0.0:8443, [::]:8443"
    assert conf["server"]["ssl"] == "True"
    assert (conf["auth"]["type"], conf["rights"]["type"]) == ("secumail_dovecot_auth", "owner_only")
    assert conf["storage"]["filesystem_folder"] == "/srv/mailserver/dav/collections"
    dovecot = files["dovecot/dovecot.conf"][0]
    assert "\nbase_dir = /run/dovecot\n" in dovecot and f"/run/dovecot/{dav.AUTH_LISTENER}" == dav.AUTH_SOCKET
    service_auth = dovecot[dovecot.index("service auth {"):]
    assert f"unix_listener {dav.AUTH_LISTENER} {{\n    mode = 0600\n    user = radicale\n  }}\n}}" in service_auth
    reload = files["container/reload"][0]
    # Radicale starts after Dovecot, whose socket it needs
    assert reload.index("launch dovecot") < reload.index("python3 -m radicale --config /etc/radicale/secumail/config")


def test_the_plugin_asks_the_socket_dovecot_opens_for_service_dav(tmp_path):
    plugin = _render(tmp_path, features={"dav": "1"})[f"dav/{dav.PLUGIN}"][0]
    assert plugin == resources.files("secumail.mail").joinpath("templates", "dav", dav.PLUGIN).read_text()
    constants = {node.targets[0].id: node.value.value for node in ast.parse(plugin).body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)}  # fmt: skip
    assert constants["SOCKET"] == dav.AUTH_SOCKET and constants["SERVICE"] == "dav"


def test_the_port_is_opened_and_checked_for_clashes_only_when_on(tmp_path):
    off = make_settings(tmp_path / "data", ports={"dav": "993"}, enabled="1")
    assert "dav" not in off.open_ports() and "secumail_dav" not in firewall.desired(off)
    on = make_settings(tmp_path / "data", features={"dav": "1"}, enabled="1")
    assert on.open_ports()["dav"] == 5232
    assert firewall.desired(on)["secumail_dav"]["dest_port"] == "5232"
    with pytest.raises(ConfigError, match="ports.dav.*already used by mailserver.ports.imaps"):
        make_settings(tmp_path / "data", features={"dav": "1"}, ports={"dav": "993"})


def test_srv_records_for_calendars_and_contacts_only_when_on(tmp_path):
    def srv(settings):
        return {r.name: r.values for r in desired_records(settings, "example.org", KEYS) if r.type == "SRV"}

    assert not [name for name in srv(make_settings(tmp_path / "data")) if "dav" in name]
    got = srv(make_settings(tmp_path / "data", features={"dav": "1"}))
    assert got["_caldavs._tcp.example.org"] == ("0 1 5232 mail.example.org.",)
    assert got["_carddavs._tcp.example.org"] == ("0 1 5232 mail.example.org.",)
