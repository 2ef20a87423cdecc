"""exec provider against a test script that keeps a zone file; manual provider output loaded into Knot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secumail.dns.check import check
from secumail.dns.setup import setup
from secumail.errors import ProviderError
from tests.integration.dns.servers import KNOT_ADDR, resolve

pytestmark = pytest.mark.integration

# A dnsctl-like script: it applies each verb to Knot with knsupdate (TSIG key from the environment,
# as the credentials file passes it) and logs its argv; `list` is "not supported" (exit 3).
SCRIPT = """#!/bin/sh
echo "$*" >> "{log}"
case "$1" in
  list) exit 3;;
  add|del)
    name=$2; type=$3; ttl=$4; value=$5
    [ "$type" = TXT ] && value="\\"$value\\""
    verb=add; [ "$1" = del ] && verb=del
    printf 'server {addr}\\nzone example.test.\\nkey hmac-sha256:%s %s\\n%s %s. %s %s %s\\nsend\\n' \\
      "$KEY_NAME" "$KEY_SECRET" "$verb" "$name" "$ttl" "$type" "$value" | knsupdate || exit 1;;
  *) echo "unknown verb $1" >&2; exit 2;;
esac
"""


@pytest.fixture
def exec_settings(tmp_path, rfc2136_settings):
    script = tmp_path / "dnsctl"
    log = tmp_path / "calls.log"
    script.write_text(SCRIPT.format(log=log, addr=KNOT_ADDR))
    script.chmod(0o755)
    s = rfc2136_settings(dns={"provider": "exec", "script": str(script), "zone": "example.test"})
    return s, log


def test_exec_provider_publishes_everything_and_converges(exec_settings):
    s, log = exec_settings
    first = setup(s)
    assert first["conflicts"] == []
    calls = log.read_text().splitlines()
    assert "add example.test MX 3600 10 mail.example.test." in calls
    assert "add example.test TXT 3600 v=spf1 mx ~all" in calls
    assert resolve("example.test", "MX") == ["10 mail.example.test."]
    assert check(s)["ok"]
    assert setup(s)["changes"] == []


def test_exec_script_failure_is_one_clear_line(exec_settings, tmp_path):
    s, _ = exec_settings
    bad = tmp_path / "failing"
    bad.write_text("#!/bin/sh\n[ \"$1\" = list ] && exit 3\necho 'dnsctl: zone locked' >&2\nexit 1\n")
    bad.chmod(0o755)
    import dataclasses

    s = dataclasses.replace(s, dns=dataclasses.replace(s.dns, script=str(bad)))
    with pytest.raises(ProviderError, match=r"failing add .* failed: dnsctl: zone locked$"):
        setup(s)


def test_manual_lines_loaded_into_the_real_server_pass_dns_check(rfc2136_settings, knot):
    s = rfc2136_settings(dns={"provider": "manual"})
    out = setup(s)
    lines = out["zone_lines"]
    assert "example.test. 3600 IN MX 10 mail.example.test." in lines
    assert 'example.test. 3600 IN TXT "v=spf1 mx ~all"' in lines
    s_check = rfc2136_settings(dns={"provider": "rfc2136"})  # check asks the same Knot
    assert not check(s_check)["ok"]
    zone_file = os.path.join(knot.workdir, "zones", "example.test.zone")
    text = Path(zone_file).read_text().replace(" 1 3600 600", " 2 3600 600")
    with open(zone_file, "w") as fh:
        fh.write(text + "\n".join(lines) + "\n")
    knot.knotc("zone-reload", "example.test")
    import time

    deadline = time.monotonic() + 5
    while resolve("example.test", "MX") == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    report = check(s_check)
    assert report["ok"], [r for r in report["records"] if r["status"] != "ok"]
    assert setup(s)["zone_lines"] == []
