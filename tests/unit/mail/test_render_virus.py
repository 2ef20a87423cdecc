"""Rendered virus scanning (features.virus_scan): clamd, clamav-milter, freshclam, Postfix's milters."""

from __future__ import annotations

import re

from secumail.mail import render, virus
from tests.support.settings import mail_settings as make_settings
from tests.unit.mail.test_render import GEN, _params, _services

CLAMAV = "unix:/var/spool/postfix/clamav/clamav-milter.ctl"
RSPAMD = "unix:/var/spool/postfix/rspamd/milter.sock"
OPENDKIM = "unix:/var/spool/postfix/opendkim/opendkim.sock"


def _render(tmp_path, **sections):
    return render.render_all(make_settings(tmp_path / "data", **sections), ["example.org"], GEN)


def _conf(text: str) -> dict[str, str]:
    """`Option value` lines of a ClamAV config file."""
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_off_by_default_nothing_of_clamav_is_rendered_and_the_reload_stops_it(tmp_path):
    files = _render(tmp_path)
    assert not [path for path in files if path.startswith("clamav/")]
    main = _params(files["postfix/main.cf"][0])
    assert "clamav" not in main["smtpd_milters"] and main["smtpd_milters"] == RSPAMD
    reload = files["container/reload"][0]
    assert "features.virus_scan is off" in reload and "clamd --config-file" not in reload


def test_clamav_milter_is_the_first_milter_on_every_smtp_port(tmp_path):
    files = _render(tmp_path, features={"virus_scan": "1"})
    main = _params(files["postfix/main.cf"][0])
    assert main["smtpd_milters"] == f"{CLAMAV},{RSPAMD}"  # port 25: ClamAV, then Rspamd
    assert main["non_smtpd_milters"] == OPENDKIM  # local mail: signed, not scanned
    services = _services(files["postfix/master.cf"][0])
    for name in ("587", "465"):
        assert f"-o smtpd_milters={CLAMAV},{OPENDKIM}" in services[name]
    # the spam filter off: ClamAV, then OpenDKIM (which verifies on port 25 then) and the light path's OpenDMARC
    main = _params(_render(tmp_path, features={"virus_scan": "1", "spam_filter": "0"})["postfix/main.cf"][0])
    assert main["smtpd_milters"] == f"{CLAMAV},{OPENDKIM},unix:/var/spool/postfix/opendmarc/opendmarc.sock"


def test_infected_mail_is_refused_and_clamd_keeps_one_engine(tmp_path):
    files = _render(tmp_path, features={"virus_scan": "1"})
    milter = _conf(files["clamav/clamav-milter.conf"][0])
    assert milter["MilterSocket"] == CLAMAV and milter["ClamdSocket"] == "unix:/run/clamav/clamd.ctl"
    assert (milter["OnInfected"], milter["OnClean"], milter["OnFail"]) == ("Reject", "Accept", "Accept")
    assert milter["MilterSocketGroup"] == "clamav" and milter["MilterSocketMode"] == "660"
    clamd = _conf(files["clamav/clamd.conf"][0])
    assert clamd["DatabaseDirectory"] == "/var/lib/clamav"
    assert clamd["ConcurrentDatabaseReload"] == "false"  # no second engine: memory stays at one set
    assert clamd["LocalSocket"] == "/run/clamav/clamd.ctl"
    assert "TCPSocket" not in clamd
    fresh = _conf(files["clamav/freshclam.conf"][0])
    assert fresh["TestDatabases"] == "no" and fresh["DatabaseDirectory"] == "/var/lib/clamav"
    assert fresh["NotifyClamd"] == "/etc/clamav/clamd.conf"
    for conf in (clamd, milter, fresh):
        assert "{{" not in "".join(conf.values())


def test_the_scan_limit_follows_a_smaller_message_size_limit(tmp_path):
    clamd = _conf(_render(tmp_path, features={"virus_scan": "1"})["clamav/clamd.conf"][0])
    assert clamd["StreamMaxLength"] == f"{virus.SCAN_LIMIT_MB}M"
    clamd = _conf(_render(tmp_path, features={"virus_scan": "1"}, message_size_limit="10")["clamav/clamd.conf"][0])
    assert clamd["StreamMaxLength"] == "10M"


def test_the_reload_starts_clamd_only_with_signatures_and_waits_for_them_otherwise(tmp_path):
    reload = _render(tmp_path, features={"virus_scan": "1"})["container/reload"][0]
    block = reload[reload.index("# features.virus_scan:"):]
    assert block.index("launch freshclam -d") < block.index("launch clamd") < block.index("launch clamav-milter")
    assert re.search(r'grep -E .\\\.\(cvd\|cld\|.*ndb.*\)\$', block)
    assert 'exec "$0/config/live/container/reload"' in block  # the waiter runs the live reload again
    # before Postfix (re)loads: postfix joins group clamav first
    assert reload.index("usermod -a -G clamav postfix") < reload.index("postfix reload")


def test_signature_files_are_recognised():
    assert virus.has_signatures(["daily.cld", "main.cvd"])
    assert virus.has_signatures(["test.ndb"])
    assert not virus.has_signatures(["freshclam.dat", "README", "mirrors.dat"])
