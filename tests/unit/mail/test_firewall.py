import dataclasses

from secumail.config import default_package, open_uci, settings_from_package
from secumail.mail import firewall
from secumail.mesh import firewall as mesh_firewall

USER_RULES = """
config defaults
	option input 'REJECT'

config zone
	option name 'wan'
	list network 'wan'

config rule
	option name 'Allow-Ping'
	option src 'wan'
	option proto 'icmp'
	option target 'ACCEPT'
"""


def settings(**main):
    s = settings_from_package(default_package())
    return dataclasses.replace(s, main=dataclasses.replace(s.main, **{"enabled": True, **main}))


def sections(tmp_path):
    return open_uci(str(tmp_path), str(tmp_path / "save")).get_all("firewall")


def test_redirects_follow_enabled_ports_and_user_rules_stay(tmp_path):
    (tmp_path / "firewall").write_text(USER_RULES)
    s = settings()
    assert firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)
    got = sections(tmp_path)
    smtp = got["secumail_smtp"]
    assert smtp[".type"] == "redirect"
    assert (smtp["src_dport"], smtp["dest_ip"], smtp["target"]) == ("25", "10.231.0.2", "DNAT")
    assert got["secumail_zone"]["device"] == ("br-mail",)
    assert any(sect.get("name") == "Allow-Ping" for sect in got.values())
    # nothing changes on a second run
    assert not firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)
    # pop3 off → its redirect goes; host mode → ACCEPT rules instead of redirects
    s2 = dataclasses.replace(s, ports=dataclasses.replace(s.ports, pop3=0, pop3s=0),
                             container=dataclasses.replace(s.container, network_mode="host"))  # fmt: skip
    assert firewall.sync(s2, str(tmp_path), str(tmp_path / "save"), reload=False)
    got = sections(tmp_path)
    assert "secumail_pop3" not in got and "secumail_zone" not in got
    assert got["secumail_imap"][".type"] == "rule" and got["secumail_imap"]["dest_port"] == "143"


def test_disabled_removes_every_secumail_section_and_only_those(tmp_path):
    (tmp_path / "firewall").write_text(USER_RULES)
    on = settings()
    on = dataclasses.replace(on, mesh=dataclasses.replace(on.mesh, enabled=True))
    firewall.sync(on, str(tmp_path), str(tmp_path / "save"), reload=False)
    mesh_firewall.sync(on, str(tmp_path), str(tmp_path / "save"), reload=False)
    off = dataclasses.replace(on, main=dataclasses.replace(on.main, enabled=False))
    assert firewall.sync(off, str(tmp_path), str(tmp_path / "save"), reload=False)
    assert "secumail_smtp" not in (tmp_path / "firewall").read_text()
    assert "secumail_mesh" in (tmp_path / "firewall").read_text()  # the mesh's own, not the mail server's
    assert mesh_firewall.sync(off, str(tmp_path), str(tmp_path / "save"), reload=False)
    text = (tmp_path / "firewall").read_text()
    assert "secumail" not in text
    assert "Allow-Ping" in text


def test_mesh_port_open_to_the_lan_and_from_wan_to_pinned_peers_only(tmp_path):
    from secumail.config.settings import Peer

    (tmp_path / "firewall").write_text(USER_RULES)
    s = settings()
    s = dataclasses.replace(s, mesh=dataclasses.replace(s.mesh, enabled=True, port=7022))
    mesh_firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)
    got = sections(tmp_path)
    assert (got["secumail_mesh"]["src"], got["secumail_mesh"]["dest_port"]) == ("lan", "7022")
    assert not [n for n, sect in got.items() if sect.get("dest_port") == "7022" and sect.get("src") == "wan"]
    peers = tuple(Peer(node_id=c * 32, address=a, port=7022, name=c)
                  for c, a in (("B", "192.0.2.7"), ("C", "2001:db8::7"), ("D", "d.example.net"), ("E", "")))
    s = dataclasses.replace(s, pinned_peers=peers)
    assert mesh_firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)
    assert not mesh_firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)
    assert firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)  # the mail server's own ...
    assert not mesh_firewall.sync(s, str(tmp_path), str(tmp_path / "save"), reload=False)  # ... beside the mesh's
    wan = sections(tmp_path)["secumail_mesh_peers"]
    assert (wan["src"], wan["dest_port"], wan["target"]) == ("wan", "7022", "ACCEPT")
    assert tuple(wan["src_ip"]) == ("192.0.2.7", "2001:db8::7")


def test_applicable_only_where_a_firewall_config_exists(tmp_path):
    assert not firewall.applicable(str(tmp_path))
    (tmp_path / "firewall").write_text(USER_RULES)
    assert firewall.applicable(str(tmp_path))


def test_mail_zone_input_is_rejected_except_dns_and_ntp(tmp_path):
    (tmp_path / "firewall").write_text(USER_RULES)
    firewall.sync(settings(), str(tmp_path), str(tmp_path / "save"), reload=False)
    got = sections(tmp_path)
    assert got["secumail_zone"]["input"] == "REJECT"
    allowed = {(s["proto"], s["dest_port"]) for name, s in got.items()
               if s.get("src") == firewall.ZONE and s[".type"] == "rule"}  # fmt: skip
    assert allowed == {("tcp udp", "53"), ("udp", "123")}
    assert all(s.get("target") == "ACCEPT" and "dest" not in s for s in got.values()
               if s.get("src") == firewall.ZONE and s[".type"] == "rule")  # input to the router itself


def test_nftables_input_policy_for_a_host_without_fw4():
    script = firewall.input_policy_script("br-mail")
    assert firewall.input_table("br-mail") == "secumail_in_br_mail"
    assert "hook input" in script and 'iifname "br-mail" udp dport { 53, 123 } accept' in script
    assert 'iifname "br-mail" tcp dport { 53 } accept' in script
    assert script.rstrip().endswith('iifname "br-mail" reject\n  }\n}'.rstrip())
    import pytest

    from secumail.errors import SecumailError

    with pytest.raises(SecumailError, match="cannot be used"):
        firewall.input_policy_script('x" accept; #')
