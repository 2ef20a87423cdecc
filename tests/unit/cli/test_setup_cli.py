"""mailctl setup: answers checked before anything is written, steps resumable, status shown."""

from __future__ import annotations

import json
import os

ANSWERS = """
[identity]
domain = example.test

[dns]
provider = manual

[mailbox]
address = alice@example.test
password = Corr3ct horse battery
"""


def _answers(tmp_path, text: str = ANSWERS, mode: int = 0o600) -> str:
    path = tmp_path / "answers.ini"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_bad_answers_are_one_line_exit_2_and_nothing_is_written(cli, confdir, tmp_path):
    before = (confdir / "mailserver").read_text()
    bad = ANSWERS.replace("provider = manual", "provider = manual\npublic_ipv4 = not-an-ip")
    r = cli("setup", "--answers", _answers(tmp_path, bad))
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("mailctl: ") and "public_ipv4" in r.err
    assert (confdir / "mailserver").read_text() == before
    assert not (tmp_path / "data" / "setup").exists()


def test_unknown_provider_and_missing_credentials_are_refused_first(cli, confdir, tmp_path):
    r = cli("setup", "--answers", _answers(tmp_path, ANSWERS.replace("manual", "nosuchdns")))
    assert r.code == 2 and "unknown DNS provider 'nosuchdns'" in r.err
    r = cli("setup", "--answers", _answers(tmp_path, ANSWERS.replace("manual", "cloudflare")))
    assert r.code == 2 and "[dns] lacks, for provider cloudflare: api_token" in r.err


def test_world_readable_answers_are_refused(cli, confdir, tmp_path):
    r = cli("setup", "--answers", _answers(tmp_path, mode=0o644))
    assert r.code == 2 and "chmod 600" in r.err


def test_without_a_terminal_setup_asks_for_an_answers_file(cli, confdir):
    r = cli("setup", stdin="")
    assert r.code == 2 and r.err == "mailctl setup: no terminal to ask on: use --answers FILE (docs/setup.md)\n"


def test_steps_in_order_resume_and_status(cli, confdir, tmp_path):
    r = cli("setup-step", "plan")
    assert r.code == 1 and "needs step 'identity' (domain and host name) done first" in r.err
    assert cli("setup-step", "identity", "example.test", "--hostname", "mx").code == 0
    assert "option domain 'example.test'" in (confdir / "mailserver").read_text()
    r = cli("setup-step", "dns", "manual", "--credentials-stdin", stdin="\n")
    assert r.code == 0, r.err
    r = cli("setup", "--status", "--json")
    data = json.loads(r.out)
    assert data["next"] == "plan" and data["answers"] == {"domain": "example.test", "hostname": "mx",
                                                          "provider": "manual"}
    r = cli("setup", "--status")
    assert "done     identity" in r.out and "pending  plan" in r.out and "next: plan" in r.out
    r = cli("setup-step", "dns", "rfc2136", "--server", "127.0.0.1:1", "--zone", "example.test",
            "--credentials-stdin", stdin="key_name=k key_secret=c2VjcmV0\n")
    assert r.code == 1 and r.err.splitlines()[-1].startswith("mailctl: rfc2136: SOA query for example.test")
    r = cli("setup", "--status", "--json")
    rows = {row["step"]: row for row in json.loads(r.out)["steps"]}
    assert rows["identity"]["status"] == "done" and rows["dns"]["status"] == "failed"
    assert "rfc2136" in rows["dns"]["reason"]
    assert "rfc2136" not in (confdir / "mailserver").read_text()  # the failed test saved nothing


def test_dns_step_tests_with_reads_then_saves_the_secrets_where_dns_credentials_says(cli, confdir, tmp_path):
    from tests.unit.dns.test_http_contract import TOKEN, Fake, serve

    fake = Fake("cloudflare")
    server = serve(fake)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    secret = tmp_path / "secrets" / "dns.secret"
    try:
        assert cli("config", "set", "mailserver.dns.credentials", str(secret)).code == 0
        assert cli("setup-step", "identity", "example.test").code == 0
        r = cli("setup-step", "dns", "cloudflare", "--credentials-stdin", stdin=f"api_token=bad api_url={url}\n")
        assert r.code == 1 and "refused the credentials (HTTP 401" in r.err and not secret.exists()
        r = cli("--json", "setup-step", "dns", "cloudflare", "--credentials-stdin",
                stdin=f"api_token={TOKEN} api_url={url}\n")
        assert r.code == 0, r.err
        assert json.loads(r.out)["zone"] == "example.test"
    finally:
        server.shutdown()
    assert all(call.startswith("GET ") for call in fake.calls) and fake.records == {}
    assert oct(os.stat(secret).st_mode & 0o777) == "0o600"
    assert f"api_token = {TOKEN}" in secret.read_text()
    assert TOKEN not in (confdir / "mailserver").read_text() and "option provider 'cloudflare'" in \
        (confdir / "mailserver").read_text()
