"""The Settings form refuses what the agent refuses: validate.js and secumail.config.validate on the same values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from secumail.config import validate as v
from tests.support.luciplugin import RESOURCES

# LuCI's module wrapper, baseclass and String.prototype.format reduced to what validate.js uses.
RUNNER = r"""
const fs = require('fs');
global._ = s => s;
String.prototype.format = function(...args) { let i = 0; return this.replace(/%s|%d/g, () => String(args[i++])); };
const baseclass = { extend: proto => { function C() {} C.prototype = proto; Object.assign(C, proto); return C; } };
const V = new Function('baseclass', fs.readFileSync(process.argv[1], 'utf8'))(baseclass);
const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = cases.map(([name, args, value]) => {
  let fn = V.prototype[name];
  if (args) fn = fn(...args);
  return fn(value);
});
process.stdout.write(JSON.stringify(out));
"""

CASES = [
    ("port", None, v.port, ["25", "0", "65535", "65536", "-1", "http", " 993 ", ""]),
    ("optionalPort", None, v.optional_port, ["0", "", "587", "70000", "x"]),
    ("integer", [1, 2048], v.integer(1, 2048), ["1", "2048", "0", "2049", "1.5", "ten", "-3"]),
    ("integer", [0, None], v.integer(0, None), ["0", "999999", "-1"]),
    ("domain", None, v.domain_name, ["example.com", "Mail.Example.ORG.", "localhost", "a..b", "-a.com", "a-.com",
                                     "x_y.com", "1.2.3.4", "a b.com", "bücher.example", "a" * 64 + ".com"]),
    ("hostName", None, v.host_name, ["mail", "MAIL", "mail.example.org", "mail_1", "-mail", "mail-"]),
    ("localPart", None, v.local_part, ["postmaster", "first.last", "a..b", ".a", "a b", "x" * 65, "o'neil",
                                        "a/b", "-a", "_a", "a+b", "a.", "A_B-c"]),
    ("email", None, v.email_address, ["a@example.org", "a@localhost", "@example.org", "a@b@example.org", "plain"]),
    ("absolutePath", None, v.absolute_path, ["/srv/mail", "relative", "/srv/../etc", "/", "/a/..b"]),
    ("choice", [["ec256", "rsa2048"]], v.choice("ec256", "rsa2048"), ["ec256", "rsa4096", ""]),
    ("ipv4Interface", None, v.ipv4_interface, ["10.231.0.2/24", "10.231.0.2", "10.231.0.256/24", "10.0.0.1/33",
                                               "fe80::1/64"]),
    ("ipAddress", None, v.ip_address, ["192.0.2.1", "2001:db8::1", "::1", "::", "1.2.3", "01.2.3.4", "2001:db8:::1",
                                       "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4", "host"]),
    ("serverAddress", None, v.server_address, ["192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:53",
                                               "[2001:db8::1]", "[192.0.2.1]:53", "192.0.2.1:", "192.0.2.1:0",
                                               "192.0.2.1:65536", "192.0.2.1:x", "[::1]x", "[::1", "host:53",
                                               "::1:53", "1.2.3.4:053"]),
    ("url", None, v.url, ["https://acme.example/dir", "http://x", "ftp://x", "https:// x", "example.com"]),
    ("httpsUrl", None, v.https_url, ["https://acme.example/dir", "HTTPS://x", "http://x", "ftp://x", "https:// x"]),
    ("publicIpUrl", None, v.public_ip_url, ["https://api.ipify.org", "HTTPS://x/ip", "http://127.0.0.1:8080/",
                                            "http://127.9.9.9/x", "http://localhost/", "http://[::1]:81/",
                                            "http://192.0.2.1/", "http://example.org/", "ftp://x", "ip.example"]),
    ("ipv4OrAuto", None, v.ipv4_or_auto, ["", "auto", "192.0.2.7", " 203.0.113.5 ", "2001:db8::1", "AUTO",
                                          "01.2.3.4", "1.2.3.256", "host"]),
    ("interfaceName", None, v.interface_name, ["br-mail", "br.lan_1", "a" * 16, "br mail"]),
    ("duration", [60, 86400], v.duration(60, 86400), ["15m", "1h", "1d", "60", "59", "2d", "90S", " 2 h ", "1w",
                                                       "h", "", "-5m", "1.5h"]),
    ("nameWord", None, v.name_word, ["mailserver", "mail.server-1", "_x", "a b", ""]),
    ("cgroupPath", None, v.cgroup_path, ["secumail", "router/secumail", "/secumail", "a/../b", "a//b", "a b",
                                         "secumail/", ""]),
    ("decimal", [0, 1000], v.decimal(0, 1000), ["6", "7.5", "0", "1000", "1000.5", "-1", "6.", ".5", "x", "1e3"]),
    ("dnsblSite", None, v.dnsbl_site, ["zen.spamhaus.org", "zen.spamhaus.org=127.0.0.[2..11]*3", "bl.spamcop.net*2",
                                       "list.dnswl.org=127.0.[0..255].[2..3]*-2", "x.test=127.0.0.[2;4]", "a b",
                                       "localhost*3", "x.test=127.0.0*3", "x.test*", "-x.test", "x.test=1.2.3.4.5"]),
    ("memoryLimit", None, v.memory_limit, ["auto", "AUTO", "64", "512", "63", "65537", "lots", " 256 "]),
    ("host", None, v.host, ["192.0.2.7", "2001:db8::7", "[2001:db8::7]", "d.example.net", "peer", "192.0.2.7:7022",
                            "a b", "-x.example", ""]),
    ("nodeId", None, v.node_id, ["ABCD" * 8, "abcd-" * 7 + "abcd", "ABCD" * 7, "ABC1" * 8, "", " " + "A2" * 16]),
    ("boolean", None, v.boolean, ["1", "yes", "On", "disabled", "2", "maybe"]),
    ("host", None, v.host, ["smtp.isp.example", "192.0.2.7", "[2001:db8::1]", "2001:db8::1", "smtp.isp:587",
                            "-x.example", "a b", ""]),
    ("saslUser", None, v.sasl_user, ["me@isp.example", "user_1", "a:b", "a b", "", "x" * 257]),
    ("spfInclude", None, v.spf_mechanism, ["spf.isp.example", "include:_spf.isp.example", "INCLUDE:a.example",
                                           "a b", "", "ip4:1.2.3.4"]),
]


def _python(parser, value) -> object:
    try:
        parser(value)
        return True
    except ValueError as exc:
        return str(exc)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_validators_agree_with_the_agent():
    cases, expected = [], []
    for name, args, parser, values in CASES:
        for value in values:
            cases.append([name, args, value])
            expected.append((name, value, _python(parser, value)))
    proc = subprocess.run(
        ["node", "-e", RUNNER, os.path.join(RESOURCES, "mailserver", "validate.js")],
        input=json.dumps(cases), capture_output=True, text=True, check=True,
    )
    got = json.loads(proc.stdout)
    mismatches = [(name, value, want, js) for (name, value, want), js in zip(expected, got) if want != js]
    assert mismatches == []
    assert any(js is not True for js in got) and any(js is True for js in got)
