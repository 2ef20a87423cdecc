"""Client autoconfiguration documents, parsed as clients parse them: hosts, ports and TLS modes."""

from __future__ import annotations

import json
import os
import plistlib
import re
import stat
import xml.etree.ElementTree as ET

import pytest

from secumail.dns.records import SRV_SERVICES, Keys, desired_records
from secumail.mail import clientconfig
from tests.support.settings import mail_settings

POX = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def _xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - the documents under test, written by us


def _settings(tmp_path, **ports):
    return mail_settings(tmp_path / "data", hostname="mail", ports={k: str(v) for k, v in ports.items()})


def _thunderbird(text: str) -> list[tuple[str, str, str, int, str]]:
    provider = _xml(text).find("emailProvider")
    out = []
    for server in provider:
        if server.tag in ("incomingServer", "outgoingServer"):
            assert server.findtext("username") == "%EMAILADDRESS%"
            assert server.findtext("authentication") == "password-cleartext"
            out.append(
                (
                    server.tag,
                    server.get("type"),
                    server.findtext("hostname"),
                    int(server.findtext("port")),
                    server.findtext("socketType"),
                )
            )
    return out


def test_thunderbird_lists_every_enabled_service_implicit_tls_first(tmp_path):
    settings = _settings(tmp_path)
    text = clientconfig.thunderbird_autoconfig(settings, "example.org")
    root = _xml(text)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    assert root.find("emailProvider").findtext("domain") == "example.org"
    assert _thunderbird(text) == [
        ("incomingServer", "imap", "mail.example.org", 993, "SSL"),
        ("incomingServer", "imap", "mail.example.org", 143, "STARTTLS"),
        ("incomingServer", "pop3", "mail.example.org", 995, "SSL"),
        ("incomingServer", "pop3", "mail.example.org", 110, "STARTTLS"),
        ("outgoingServer", "smtp", "mail.example.org", 465, "SSL"),
        ("outgoingServer", "smtp", "mail.example.org", 587, "STARTTLS"),
    ]


def test_a_port_turned_off_or_moved_is_what_every_document_says(tmp_path):
    settings = _settings(tmp_path, imap=0, pop3=0, pop3s=0, smtps=0, submission=2587)
    assert _thunderbird(clientconfig.thunderbird_autoconfig(settings, "example.org")) == [
        ("incomingServer", "imap", "mail.example.org", 993, "SSL"),
        ("outgoingServer", "smtp", "mail.example.org", 2587, "STARTTLS"),
    ]
    protocols = _xml(clientconfig.outlook_autodiscover(settings)).iter(f"{POX}Protocol")
    assert [
        (p.findtext(f"{POX}Type"), int(p.findtext(f"{POX}Port")), p.findtext(f"{POX}Encryption")) for p in protocols
    ] == [("IMAP", 993, "SSL"), ("SMTP", 2587, "TLS")]
    account = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org"))["PayloadContent"][0]
    assert (account["IncomingMailServerPortNumber"], account["OutgoingMailServerPortNumber"]) == (993, 2587)


def test_the_documents_match_the_srv_records(tmp_path):
    """What dns-setup publishes (RFC 6186 SRV) and what autoconfig says name the same host and ports."""
    settings = _settings(tmp_path, pop3=0, submission=2587)
    keys = Keys(ipv4="192.0.2.1")
    srv = {}
    for rr in desired_records(settings, "example.org", keys):
        if rr.type == "SRV":
            _prio, _weight, port, target = rr.values[0].split()
            srv[rr.name.split(".")[0]] = (int(port), target.rstrip("."))
    assert len(srv) == len(SRV_SERVICES)
    listed = {
        (host, port)
        for _tag, _type, host, port, _tls in _thunderbird(clientconfig.thunderbird_autoconfig(settings, "example.org"))
    }
    published = {(target, port) for port, target in srv.values() if port}
    assert listed == published
    tls_of = {"_imaps": "SSL", "_imap": "STARTTLS", "_pop3s": "SSL", "_submissions": "SSL", "_submission": "STARTTLS"}
    socket_types = {
        (port, tls) for *_, port, tls in _thunderbird(clientconfig.thunderbird_autoconfig(settings, "example.org"))
    }
    assert socket_types == {(srv[name][0], tls) for name, tls in tls_of.items()}


def test_outlook_autodiscover_is_a_pox_response(tmp_path):
    root = _xml(clientconfig.outlook_autodiscover(_settings(tmp_path)))
    assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
    account = root.find(f"{POX}Response/{POX}Account")
    assert account.findtext(f"{POX}AccountType") == "email" and account.findtext(f"{POX}Action") == "settings"
    imap = account.find(f"{POX}Protocol")
    assert imap.findtext(f"{POX}Type") == "IMAP" and imap.findtext(f"{POX}Server") == "mail.example.org"
    assert imap.findtext(f"{POX}SSL") == "on" and imap.findtext(f"{POX}SPA") == "off"
    assert imap.find(f"{POX}LoginName") is None  # the static file: Outlook logs in with the address given


def test_apple_profile_has_the_account_and_no_password_unless_asked(tmp_path):
    settings = _settings(tmp_path)
    profile = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org"))
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert account["EmailAddress"] == account["IncomingMailServerUsername"] == "alice@example.org"
    assert account["IncomingMailServerHostName"] == account["OutgoingMailServerHostName"] == "mail.example.org"
    assert (account["IncomingMailServerPortNumber"], account["IncomingMailServerUseSSL"]) == (993, True)
    assert (account["OutgoingMailServerPortNumber"], account["OutgoingMailServerUseSSL"]) == (465, True)
    assert "IncomingPassword" not in account and "OutgoingPassword" not in account
    again = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org", password="s3cret-token"))
    assert again["PayloadContent"][0]["IncomingPassword"] == "s3cret-token"
    assert again["PayloadUUID"] == profile["PayloadUUID"]  # a newer profile replaces the installed one


def test_autoconfig_files_are_at_the_paths_clients_ask_for(tmp_path):
    files = clientconfig.autoconfig_files(_settings(tmp_path), "example.org")
    assert set(files) == {
        "mail/config-v1.1.xml",
        ".well-known/autoconfig/mail/config-v1.1.xml",
        "autodiscover/autodiscover.xml",
        "Autodiscover/Autodiscover.xml",
    }


# ---- mailctl user profile -------------------------------------------------------------------------


@pytest.fixture
def alice(cli):
    assert cli("user", "add", "alice@example.org", "--password-stdin", stdin="alice pass phrase\n").code == 0
    return cli


def test_mailctl_user_profile_prints_the_profile(alice):
    result = alice("user", "profile", "alice@example.org")
    assert result.code == 0, result
    profile = plistlib.loads(result.out.encode())
    assert profile["PayloadContent"][0]["EmailAddress"] == "alice@example.org"
    assert "IncomingPassword" not in profile["PayloadContent"][0]
    assert json.loads(alice("--json", "user", "app-password", "list").out) == []  # nothing made


def test_mailctl_user_profile_with_a_new_app_password_writes_a_private_file(alice, tmp_path, data):
    target = tmp_path / "alice.mobileconfig"
    result = alice("user", "profile", "alice@example.org", "--app-password", "iphone", "-o", str(target))
    assert result.code == 0, result
    assert re.fullmatch(
        rf"profile of alice@example.org written to {target} with the new app password iphone\n", result.out
    )
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    token = plistlib.loads(target.read_bytes())["PayloadContent"][0]["IncomingPassword"]
    from secumail.mail.passwords import verify_password

    line = next(
        x
        for x in (data / "config" / "app-passwords.imap").read_text().splitlines()
        if x.startswith(f"alice@example.org/{token[:6]}:")
    )
    assert verify_password(token, line.split(":", 1)[1])


def test_mailctl_user_profile_refuses_an_unwritable_place_before_making_anything(alice, tmp_path):
    result = alice(
        "user",
        "profile",
        "alice@example.org",
        "--app-password",
        "iphone",
        "-o",
        str(tmp_path / "missing" / "x.mobileconfig"),
    )
    assert result.code == 2 and "cannot write in" in result.err
    assert json.loads(alice("--json", "user", "app-password", "list").out) == []
    unknown = alice("user", "profile", "nobody@example.org")
    assert unknown.code == 2 and "mailbox nobody@example.org does not exist" in unknown.err


def test_dns_setup_writes_the_files_for_the_web_server_only_when_the_names_are_published(tmp_path):
    import dataclasses

    from secumail.dns.setup import write_autoconfig_files

    settings = _settings(tmp_path)
    written = write_autoconfig_files(settings, ["example.org", "example.net"])
    root = tmp_path / "data" / "autoconfig"
    assert sorted(written) == sorted(
        str(root / d / p) for d in ("example.org", "example.net") for p in clientconfig.autoconfig_files(settings, d)
    )
    text = (root / "example.net" / ".well-known" / "autoconfig" / "mail" / "config-v1.1.xml").read_text()
    assert _xml(text).find("emailProvider").findtext("domain") == "example.net"
    off = dataclasses.replace(settings, dns=dataclasses.replace(settings.dns, autoconfig=False))
    assert write_autoconfig_files(off, ["example.com"]) == [] and not (root / "example.com").exists()


# ---- calendars and contacts (features.dav) ---------------------------------------------------------


def _dav_settings(tmp_path, dav_port: int = 5232):
    return mail_settings(tmp_path / "data", hostname="mail", features={"dav": "1"}, ports={"dav": str(dav_port)})


def test_without_dav_no_document_mentions_calendars_or_contacts(tmp_path):
    settings = _settings(tmp_path)
    root = _xml(clientconfig.thunderbird_autoconfig(settings, "example.org"))
    assert root.find("calendar") is None and root.find("addressBook") is None
    profile = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org", password="tok"))
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == ["com.apple.mail.managed"]


def test_the_apple_profile_carries_caldav_and_carddav_accounts_with_dav_on(tmp_path):
    settings = _dav_settings(tmp_path, dav_port=8443)
    profile = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org"))
    mail, caldav, carddav = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert caldav["PayloadType"] == "com.apple.caldav.account" and carddav["PayloadType"] == "com.apple.carddav.account"
    for payload, prefix in ((caldav, "CalDAV"), (carddav, "CardDAV")):
        assert payload[f"{prefix}HostName"] == "mail.example.org"
        assert payload[f"{prefix}Port"] == 8443 and payload[f"{prefix}UseSSL"] is True
        assert payload[f"{prefix}Username"] == "alice@example.org"
        # Radicale keeps alice's collections below /<address>/ (rights owner_only)
        assert payload[f"{prefix}PrincipalURL"] == "https://mail.example.org:8443/alice@example.org/"
        assert f"{prefix}Password" not in payload
    assert len({p["PayloadUUID"] for p in profile["PayloadContent"]}) == 3
    assert len({p["PayloadIdentifier"] for p in profile["PayloadContent"]}) == 3
    again = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org", password="s3cret-token"))
    _mail, caldav, carddav = again["PayloadContent"]
    assert caldav["CalDAVPassword"] == carddav["CardDAVPassword"] == "s3cret-token"
    assert [p["PayloadUUID"] for p in again["PayloadContent"]] == [p["PayloadUUID"] for p in profile["PayloadContent"]]


def test_thunderbird_autoconfig_lists_the_caldav_and_carddav_server_with_dav_on(tmp_path):
    text = clientconfig.thunderbird_autoconfig(_dav_settings(tmp_path), "example.org")
    root = _xml(text)
    assert [child.tag for child in root] == ["emailProvider", "addressBook", "calendar"]
    for tag, kind in (("addressBook", "carddav"), ("calendar", "caldav")):
        (entry,) = root.findall(tag)
        assert entry.get("type") == kind
        assert entry.findtext("username") == "%EMAILADDRESS%"
        assert entry.find("authentication").get("system") == "http"
        assert entry.findtext("authentication") == "basic"
        assert entry.findtext("serverURL") == "https://mail.example.org:5232/"
    mail_only = clientconfig.thunderbird_autoconfig(_settings(tmp_path), "example.org")
    assert _thunderbird(text) == _thunderbird(mail_only)  # the mail servers as before


def test_dav_on_with_its_port_off_adds_nothing(tmp_path):
    settings = _dav_settings(tmp_path, dav_port=0)
    assert _xml(clientconfig.thunderbird_autoconfig(settings, "example.org")).find("calendar") is None
    profile = plistlib.loads(clientconfig.apple_profile(settings, "alice@example.org"))
    assert len(profile["PayloadContent"]) == 1


def test_mailctl_user_profile_app_password_opens_dav_too_when_it_is_on(alice, tmp_path, monkeypatch):
    import secumail.config

    dav_on = _dav_settings(tmp_path)
    monkeypatch.setattr(secumail.config, "load_settings", lambda *a, **k: dav_on)
    target = tmp_path / "alice.mobileconfig"
    result = alice("user", "profile", "alice@example.org", "--app-password", "iphone", "-o", str(target))
    assert result.code == 0, result
    (app,) = json.loads(alice("--json", "user", "app-password", "list").out)
    assert app["scopes"] == ["imap", "smtp", "dav"]
    _mail, caldav, carddav = plistlib.loads(target.read_bytes())["PayloadContent"]
    assert caldav["CalDAVPassword"] == carddav["CardDAVPassword"]


def test_mailctl_user_profile_app_password_stays_imap_and_smtp_without_dav(alice, tmp_path):
    target = tmp_path / "alice.mobileconfig"
    assert alice("user", "profile", "alice@example.org", "--app-password", "iphone", "-o", str(target)).code == 0
    (app,) = json.loads(alice("--json", "user", "app-password", "list").out)
    assert app["scopes"] == ["imap", "smtp"]
