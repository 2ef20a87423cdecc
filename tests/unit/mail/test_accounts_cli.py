"""mailctl domain/user/alias as a user meets them: files Postfix and Dovecot read, modes, one-line errors."""

from __future__ import annotations

import json
import os
import stat

import bcrypt
import pytest

from tests.support.files import snapshot

PASSWORD = "correct horse battery staple"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _lines(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.fixture
def world(cli):
    assert cli("user", "add", "alice@example.org", "--password-stdin", stdin=PASSWORD + "\n").code == 0
    bob = cli("user", "add", "bob@example.org", "--password-stdin", "--quota", "500M", stdin="pw-bob-secret\n")
    assert bob.code == 0
    return cli


def test_user_add_writes_dovecot_and_postfix_files(world, data):
    config = data / "config"
    users = _lines(config / "users")
    assert len(users) == 2
    alice = next(line for line in users if line.startswith("alice@example.org:"))
    fields = alice.split(":")
    assert fields[1].startswith("{BLF-CRYPT}$2y$10$")
    assert fields[2:4] == ["5000", "5000"]
    assert bcrypt.checkpw(PASSWORD.encode(), ("$2b$" + fields[1][len("{BLF-CRYPT}$2y$"):]).encode())
    bob = next(line for line in users if line.startswith("bob@example.org:"))
    assert bob.endswith("::::userdb_quota_rule=*:storage=500M")
    assert _lines(config / "vmailbox") == [
        "alice@example.org example.org/alice/", "bob@example.org example.org/bob/"]
    # identity entries: a catch-all added later cannot swallow mail for real users
    assert _lines(config / "valias") == [
        "alice@example.org alice@example.org", "bob@example.org bob@example.org"]
    assert _lines(config / "vdomains") == ["example.org OK"]
    assert _mode(config / "users") == 0o600
    assert _mode(config / "vmailbox") == 0o640
    assert _mode(config / "valias") == 0o640


def test_password_is_in_no_file_and_no_output(cli, data):
    result = cli("user", "add", "carol@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.code == 0, result
    assert PASSWORD not in result.out + result.err
    for path, (content, _) in snapshot(data).items():
        assert PASSWORD.encode() not in content, path
        assert b"correct horse" not in content, path


def test_user_passwd_changes_the_hash(world, data):
    assert world("user", "passwd", "alice@example.org", "--password-stdin", stdin="new secret phrase\n").code == 0
    line = next(x for x in _lines(data / "config" / "users") if x.startswith("alice@"))
    stored = ("$2b$" + line.split(":")[1][len("{BLF-CRYPT}$2y$"):]).encode()
    assert bcrypt.checkpw(b"new secret phrase", stored)
    assert not bcrypt.checkpw(PASSWORD.encode(), stored)


def test_user_list_shows_quota_and_usage(world, data):
    maildir = data / "mail" / "example.org" / "bob"
    (maildir / "cur").mkdir(parents=True)
    (maildir / "new").mkdir()
    (maildir / "cur" / "1700000000.M1P1.host,S=1048576,W=1050000:2,S").write_text("x")  # Dovecot's S= size
    (maildir / "new" / "1700000001.M2P2.host").write_bytes(b"y" * 1000)  # no S=: file size
    (maildir / "dovecot-uidlist").write_bytes(b"z" * 5000)  # not mail
    result = world("--json", "user", "list")
    rows = {row["address"]: row for row in json.loads(result.out)}
    assert rows["bob@example.org"]["quota"] == "500M"
    assert rows["bob@example.org"]["quota_bytes"] == 500 * 1024 * 1024
    assert rows["bob@example.org"]["usage_bytes"] == 1048576 + 1000
    assert rows["bob@example.org"]["usage_percent"] == 0.2
    assert rows["alice@example.org"]["quota"] == "none"
    assert rows["alice@example.org"]["usage_bytes"] == 0
    text = world("user", "list").out.splitlines()
    assert text[0].split() == ["ADDRESS", "QUOTA", "USED", "USE%"]
    assert text[2].split() == ["bob@example.org", "500M", "1.0M", "0.2%"]


def test_user_quota_set_and_cleared(world, data):
    assert world("user", "quota", "alice@example.org", "2g").code == 0
    assert any(x.startswith("alice@") and x.endswith("storage=2G") for x in _lines(data / "config" / "users"))
    assert world("user", "quota", "alice@example.org", "0").code == 0
    alice = next(x for x in _lines(data / "config" / "users") if x.startswith("alice@"))
    assert "quota" not in alice


def test_user_del_keeps_mail_unless_purge(world, data):
    maildir = data / "mail" / "example.org" / "alice"
    (maildir / "cur").mkdir(parents=True)
    result = world("user", "del", "alice@example.org")
    assert result.code == 0
    assert "mail kept in" in result.out
    assert maildir.is_dir()
    assert not any(x.startswith("alice@") for x in _lines(data / "config" / "users"))
    assert "alice@example.org" not in (data / "config" / "vmailbox").read_text()
    bob_dir = data / "mail" / "example.org" / "bob"
    (bob_dir / "cur").mkdir(parents=True)
    bob_home = data / "home" / "example.org" / "bob"
    (bob_home / "sieve").mkdir(parents=True)
    assert world("user", "del", "bob@example.org", "--purge").code == 0
    assert not bob_dir.exists() and not bob_home.exists()
    assert (data / "mail" / "example.org").is_dir()


def test_domains_add_list_del(cli, data):
    assert cli("domain", "add", "Example.NET").code == 0
    assert _lines(data / "config" / "domains") == ["example.net"]
    assert _lines(data / "config" / "vdomains") == ["example.net OK", "example.org OK"]
    assert (data / "dkim" / "example.net" / "mail.private").is_file()
    rows = json.loads(cli("--json", "domain", "list").out)
    assert [(r["domain"], r["primary"]) for r in rows] == [("example.net", False), ("example.org", True)]
    assert cli("domain", "del", "example.net").code == 0
    assert _lines(data / "config" / "vdomains") == ["example.org OK"]


def test_domain_del_refused_while_in_use_unless_force(cli, data):
    cli("domain", "add", "example.net")
    cli("user", "add", "x@example.net", "--password-stdin", stdin="pw-long-enough\n")
    cli("user", "add", "y@example.org", "--password-stdin", stdin="pw-long-enough\n")
    cli("alias", "add", "fw@example.org", "x@example.net", "y@example.org")
    before = snapshot(data / "config")
    result = cli("domain", "del", "example.net")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "1 mailbox(es)" in result.err and "--force" in result.err
    assert snapshot(data / "config") == before
    assert cli("domain", "del", "example.net", "--force").code == 0
    assert "x@example.net" not in (data / "config" / "users").read_text()
    assert _lines(data / "config" / "valias")[-1] == "fw@example.org y@example.org"


def test_aliases_forward_catch_all_and_list(world, data):
    assert world("alias", "add", "info@example.org", "alice@example.org", "someone@elsewhere.test").code == 0
    assert world("alias", "add", "@example.org", "bob@example.org").code == 0
    assert world("alias", "add", "team@example.org", "info@example.org,bob+team@example.org").code == 0
    lines = _lines(data / "config" / "valias")
    assert "info@example.org alice@example.org,someone@elsewhere.test" in lines
    assert "team@example.org info@example.org,bob+team@example.org" in lines
    assert lines[-1] == "@example.org bob@example.org"
    assert lines.index("alice@example.org alice@example.org") < lines.index("@example.org bob@example.org")
    rows = json.loads(world("--json", "alias", "list").out)
    assert {"source": "@example.org", "destinations": ["bob@example.org"], "catch_all": True} in rows
    assert "(catch-all)" in world("alias", "list").out
    assert world("alias", "del", "@example.org").code == 0
    assert "@example.org" not in [x.split()[0] for x in _lines(data / "config" / "valias")]


@pytest.mark.parametrize("args,message", [
    (["user", "add", "not-an-address"], "is not an e-mail address"),
    (["user", "add", "a b@example.org"], "is not a valid mailbox name"),
    (["user", "add", "x+y@example.org"], "'+' is the tag delimiter"),
    # local parts become maildir paths: letters, digits and . _ + - only, no leading dot or dash
    (["user", "add", "a/b@example.org"], "'a/b' is not a valid mailbox name"),
    (["user", "add", "../x@example.org"], "is not a valid mailbox name"),
    (["user", "add", ".hidden@example.org"], "is not a valid mailbox name"),
    (["user", "add", "a..b@example.org"], "is not a valid mailbox name"),
    (["user", "add", "o'neil@example.org"], "is not a valid mailbox name"),
    (["alias", "add", "x/y@example.org", "bob@example.org"], "is not a valid mailbox name"),
    (["alias", "add", "x@example.org", "a|b@example.org"], "is not a valid mailbox name"),
    (["user", "add", "new@unknown.test"], "unknown.test is not one of this server's domains"),
    (["user", "add", "alice@example.org"], "mailbox alice@example.org exists already"),
    (["user", "add", "info@example.org"], "info@example.org is an alias"),
    (["user", "add", "new@example.org", "--quota", "lots"], "quota 'lots' is not a size"),
    (["user", "add", "new@example.org", "--quota", "500X"], "is not a size"),
    (["user", "quota", "alice@example.org", "1.5G"], "is not a size"),
    (["user", "quota", "alice@example.org", "100K"], "is below 1M"),
    (["user", "quota", "nobody@example.org", "1G"], "mailbox nobody@example.org does not exist"),
    (["user", "del", "nobody@example.org"], "does not exist"),
    (["user", "del", "alice@example.org"], "receives mail of alias(es) info@example.org"),
    (["user", "passwd", "nobody@example.org"], "does not exist"),
    (["domain", "add", "example.org"], "domain example.org exists already"),
    (["domain", "add", "bad_domain"], "is not a domain name"),
    (["domain", "del", "example.org"], "is the primary domain"),
    (["domain", "del", "other.test"], "domain other.test does not exist"),
    (["alias", "add", "bob@example.org", "alice@example.org"], "bob@example.org is a mailbox"),
    (["alias", "add", "info@example.org", "bob@example.org"], "alias info@example.org exists already"),
    (["alias", "add", "x@unknown.test", "bob@example.org"], "unknown.test is not one of this server's"),
    (["alias", "add", "x@example.org", "not an address"], "destination 'not an address'"),
    (["alias", "add", "x@example.org", "ghost@example.org"], "destination ghost@example.org does not exist"),
    (["alias", "add", "x@example.org", "x@example.org"], "cannot point to itself"),
    (["alias", "add", "loop2@example.org", "loop1@example.org"],
     "would make a loop: loop2@example.org -> loop1@example.org -> loop2@example.org"),
    (["alias", "del", "nothing@example.org"], "alias nothing@example.org does not exist"),
    (["alias", "del", "loop2@example.org"], "is a destination of loop1@example.org"),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, data, args, message):
    assert world("alias", "add", "info@example.org", "alice@example.org").code == 0
    if "loop" in message:
        # loop1 -> loop2 needs loop2 to exist first: make loop2 an alias to bob, loop1 -> loop2, then retarget
        assert world("alias", "add", "loop2@example.org", "bob@example.org").code == 0
        assert world("alias", "add", "loop1@example.org", "loop2@example.org").code == 0
        if "would make a loop" in message:
            assert world("alias", "del", "loop2@example.org").code == 2  # referenced by loop1
            (data / "config" / "valias").write_text(
                (data / "config" / "valias").read_text().replace("loop2@example.org bob@example.org\n", ""))
    before = snapshot(data)
    needs_password = args[:2] in (["user", "add"], ["user", "passwd"])
    result = world(*args, "--password-stdin", stdin="pw-long-enough\n") if needs_password else world(*args)
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.count("\n") == 1 and message in result.err, result.err
    assert snapshot(data) == before


def test_alias_loop_through_catch_all_is_refused(world, data):
    """Hand-edited catch-all @example.net -> fw; fw -> x@example.net would go round through the catch-all."""
    assert world("domain", "add", "example.net").code == 0
    valias = data / "config" / "valias"
    valias.write_text(valias.read_text() + "@example.net fw@example.org\n")
    result = world("alias", "add", "fw@example.org", "anything@example.net")
    assert result.code == 2 and "loop" in result.err, result


def test_empty_password_and_missing_stdin_flag(cli, data):
    result = cli("user", "add", "alice@example.org", "--password-stdin", stdin="\n")
    assert result.code == 2 and "empty password" in result.err
    result = cli("user", "add", "alice@example.org", stdin="pw-long-enough\n")  # no tty, no --password-stdin
    assert result.code == 2 and "--password-stdin" in result.err
    assert not (data / "config" / "users").exists()


@pytest.mark.parametrize("text", ["-x@example.org", "x.@example.org", "+x@example.org", "x\\y@example.org"])
def test_option_like_and_odd_local_parts_are_refused(text):
    from secumail.errors import InputError
    from secumail.mail.store import split_address

    with pytest.raises(InputError, match="is not a valid mailbox name"):
        split_address(text, allow_delimiter=True)


@pytest.mark.parametrize("args", [["user", "add", "new@example.org"], ["user", "passwd", "alice@example.org"]])
def test_short_password_is_refused_with_one_line(world, data, args):
    before = snapshot(data)
    result = world(*args, "--password-stdin", stdin="nine-char\n")
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "shorter than 10 characters" in result.err, result.err
    assert snapshot(data) == before
    assert world(*args, "--password-stdin", stdin="ten-chars!\n").code == 0


def test_corrupt_line_is_named_with_file_and_line(world, data):
    users = data / "config" / "users"
    users.write_text(users.read_text() + "garbage-without-colon\n")
    result = world("user", "list")
    assert result.code == 1
    assert f"{users}:4:" in result.err and result.err.count("\n") == 1


def test_hand_added_alias_lines_survive_a_rewrite(world, data):
    valias = data / "config" / "valias"
    valias.write_text(valias.read_text() + "hand@example.org alice@example.org\n")
    assert world("alias", "add", "info@example.org", "bob@example.org").code == 0
    assert "hand@example.org alice@example.org" in _lines(valias)


def test_settings_from_a_real_uci_file(confdir, data, capsys, monkeypatch):
    """The same command through the real UCI file (option data_path) instead of the patched settings."""
    import io
    import sys

    from secumail.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("pw-long-enough\n"))
    assert main(["user", "add", "zed@example.org", "--password-stdin"]) == 0, capsys.readouterr().err
    assert "zed@example.org" in (data / "config" / "users").read_text()


def test_rewrites_keep_dovecots_group_and_a_new_mtime_second(world, data):
    """The container gives group dovecot read access to users; mailctl must not take it away, and
    each rewrite must move the mtime to a new second (Dovecot's change detection)."""
    users = data / "config" / "users"
    os.chown(users, 0, 4242)
    os.chmod(users, 0o640)
    before = os.stat(users).st_mtime
    assert world("user", "passwd", "alice@example.org", "--password-stdin", stdin="x-long-enough\n").code == 0
    st = os.stat(users)
    assert (st.st_gid, _mode(users)) == (4242, 0o640)
    assert int(st.st_mtime) > int(before)
    assert _mode(data / "config" / "valias") == 0o640  # other maps keep their own modes


def test_sender_login_map_lists_own_addresses_and_aliases(world, data):
    assert world("alias", "add", "info@example.org", "alice@example.org", "bob@example.org", "x@outside.test").code == 0
    assert world("alias", "add", "@example.org", "bob@example.org").code == 0
    assert _lines(data / "config" / "vsenders") == [
        "alice@example.org alice@example.org",
        "bob@example.org bob@example.org",
        "info@example.org alice@example.org,bob@example.org",
    ]  # no catch-all: owning @example.org must not allow sending as anyone there
    assert _mode(data / "config" / "vsenders") == 0o640


def test_account_hooks_never_reach_a_container_on_this_host(settings):
    """The settings of these tests name no existing LXC path, so no real container is reloaded."""
    from secumail.appliance.spec import running_executor

    assert not os.path.exists(settings.container.lxc_path)
    assert running_executor(settings) is None


def test_umask_000_makes_no_directory_writable_by_others(confdir, data, tmp_path):
    """mailctl run from a shell with `umask 000`: the directories it makes are 0755 at most, secrets 0600."""
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-m", "secumail.cli", "user", "add", "ann@example.org", "--password-stdin"],
                          input="ann-long-password\n", capture_output=True, text=True, env=env, timeout=120,
                          preexec_fn=lambda: os.umask(0))  # fmt: skip
    assert done.returncode == 0, done.stderr
    loose = [f"{p} {_mode(p):04o}" for p in [data, *data.rglob("*")] if p.is_dir() and _mode(p) & 0o022]
    assert loose == []
    assert _mode(data / "config" / "users") == 0o600
