"""Client autoconfiguration served by B on the simulated internet (issue 18, item 3).

B (b.test) runs with dns.autoconfig on (the default): dns-setup published autoconfig.b.test and
autodiscover.b.test as CNAMEs of mail.b.test and wrote the files, ssl-setup put both names on the
certificate, and lighttpd in B's container serves them on 443 through B's router. A client trusting
only the CA's root fetches them at the names the resolver gives, as Thunderbird and Outlook do.
"""

from __future__ import annotations

import json
import socket
import ssl
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration

TB_PATH = "/mail/config-v1.1.xml"
POX_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
POX_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
# what each port option means to a client: (protocol, implicit TLS?)
PORT_KINDS = {"imaps": ("imap", True), "imap": ("imap", False), "pop3s": ("pop3", True), "pop3": ("pop3", False),
              "smtps": ("smtp", True), "submission": ("smtp", False)}  # fmt: skip


def _served(site) -> set[tuple[str, int, bool]]:
    """(protocol, port, implicit TLS) of every client port B has on, each answering in its container."""
    status = json.loads(site.mailctl("--json", "status").stdout)
    assert all(status["services"][name] for name in PORT_KINDS if name in status["ports"]), status["services"]
    return {(PORT_KINDS[name][0], port, PORT_KINDS[name][1]) for name, port in status["ports"].items()
            if name in PORT_KINDS}  # fmt: skip


def test_thunderbird_finds_b_at_its_first_lookup_and_gets_what_b_serves(inet, tmp_path):
    b = inet.b
    assert inet.resolve(f"autoconfig.{b.domain}", "CNAME") == [f"{b.fqdn}."]
    # Thunderbird's first URL: autoconfig.<domain> with the address as a query
    status, head, body = inet.https(f"https://autoconfig.{b.domain}{TB_PATH}?emailaddress={b.user('bob')}")
    assert status == 200 and "content-type: text/xml" in head, head
    provider = ET.fromstring(body).find("emailProvider")  # noqa: S314 - served by the appliance under test
    assert provider.get("id") == b.domain and provider.findtext("domain") == b.domain
    found = set()
    for server in [*provider.iter("incomingServer"), *provider.iter("outgoingServer")]:
        assert server.findtext("hostname") == b.fqdn and server.findtext("username") == "%EMAILADDRESS%"
        found.add((server.get("type"), int(server.findtext("port")), server.findtext("socketType") == "SSL"))
    assert found == _served(b)
    # what it names is real: the implicit-TLS ports forwarded to the internet verify as mail.b.test
    root = tmp_path / "root.pem"
    root.write_bytes(inet.ca_root())
    context = ssl.create_default_context(cafile=str(root))
    for _kind, port, implicit in sorted(found):
        if implicit and port in (465, 993):
            with (socket.create_connection((b.wan_ip, port), timeout=10) as raw,
                  context.wrap_socket(raw, server_hostname=b.fqdn) as tls):  # fmt: skip
                assert tls.version()
    # the same file at the .well-known path; nothing else at that name, nothing at the mail host's name
    status, _, again = inet.https(f"https://autoconfig.{b.domain}/.well-known/autoconfig{TB_PATH}")
    assert (status, again) == (200, body)
    assert inet.https(f"https://autoconfig.{b.domain}/mail/")[0] in (403, 404)
    assert inet.https(f"https://autoconfig.{b.domain}/autodiscover/autodiscover.xml")[0] in (403, 404)
    assert inet.https(f"https://{b.fqdn}{TB_PATH}")[0] in (403, 404)


def test_outlook_posts_to_autodiscover_and_gets_the_same_servers(inet):
    b = inet.b
    request = (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{POX_REQUEST}"><Request>'
               f"<EMailAddress>{b.user('bob')}</EMailAddress>"
               f"<AcceptableResponseSchema>{POX_RESPONSE}</AcceptableResponseSchema>"
               "</Request></Autodiscover>")  # fmt: skip
    url = f"https://autodiscover.{b.domain}/autodiscover/autodiscover.xml"
    post = ("-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", request)
    status, head, body = inet.https(url, *post)
    assert status == 200 and "content-type: text/xml" in head, head
    ns = {"r": POX_RESPONSE}
    account = ET.fromstring(body).find("r:Response/r:Account", ns)  # noqa: S314 - served by the appliance
    assert account.findtext("r:AccountType", namespaces=ns) == "email"
    assert account.findtext("r:Action", namespaces=ns) == "settings"
    found = set()
    for protocol in account.findall("r:Protocol", ns):
        assert protocol.findtext("r:Server", namespaces=ns) == b.fqdn
        encryption = protocol.findtext("r:Encryption", namespaces=ns)
        found.add((protocol.findtext("r:Type", namespaces=ns).lower(), int(protocol.findtext("r:Port", namespaces=ns)),
                   encryption == "SSL"))  # fmt: skip
    assert found == _served(b)


def test_nothing_answers_on_443_with_autoconfig_off_and_no_mta_sts(inet):
    """The router forwards 443; with nothing to serve, nothing in the container takes it."""
    b = inet.b
    b.mailctl("config", "set", "mailserver.dns.autoconfig", "0")
    try:
        b.configure()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((b.wan_ip, 443), timeout=5).close()
        assert "HTTPS 443:    nothing served" in b.mailctl("status").stdout
    finally:
        b.mailctl("config", "set", "mailserver.dns.autoconfig", "1")
        b.configure()
