"""Secrets sweep: after install, ssl-setup, a backup and a recovery-key export, all run under `umask 000`,
no secret is in a group/world-readable file, in any process's argv, or in any log.

The appliance is driven only through `mailctl` (subprocesses, as a user would), with `--debug` so every
debug log line is there to be searched: `install` of a real LXC mail container (own bridge and subnet,
image from the shared cache), `user add` (password on stdin), `ssl-setup` against a real pebble and Knot
(TSIG secret in the credentials file; the servers of tests/integration/certs), `mesh backup --file`
(node key, master key, key slots, a single-file export) and `mesh key export` (the recovery key, shown
once on stdout). An ArgvScanner reads every /proc/*/cmdline during the whole run.

What counts as a secret: the mailbox password and its hash, the TSIG secret, every private key made
during the run (certificate key, ACME account key, DKIM keys, node key: their base64 lines), the master
key, the recovery key. Where they may be: data_path, the UCI dir, the container's rootfs and LXC dir,
and the work dir — every file there holding one must be mode 0?00 (owner only), and no directory on the
way may be writable by others.

Own world: container smsec on bridge smsec0 (10.241.0.0/24), paths under /var/tmp/secumail-secrets-test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.integration.certs import world
from tests.integration.lxcworld import _cleanup_stale, cache_dir, ensure_apt_packages, need_root
from tests.support.argvscan import ArgvScanner
from tests.support.paths import REPO
from tests.support.procs import terminate

pytestmark = pytest.mark.integration

WORK = "/var/tmp/secumail-secrets-test"
NAME, BRIDGE, SUBNET = "smsec", "smsec0", "10.241.0"
DATA = f"{WORK}/data"
LXC = f"{WORK}/lxc"
PASSWORD = f"Sweep-{uuid.uuid4().hex[:12]}-pw"
MAILBOX = f"alice@{world.ZONE}"


@dataclass
class Run:
    scanner: ArgvScanner
    outputs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    started: float = 0.0
    recovery_key: str = ""
    tsig: str = ""


def _env() -> dict[str, str]:
    return dict(os.environ, SECUMAIL_CONFDIR=f"{WORK}/config", SECUMAIL_SAVEDIR=f"{WORK}/save",
                SECUMAIL_IMAGE_CACHE=cache_dir(), SECUMAIL_RUNDIR=f"{WORK}/run", PYTHONPATH=REPO)  # fmt: skip


def mailctl(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    # umask 000 in the child: every mode must come from the code, not from a careful caller
    return subprocess.run([sys.executable, "-m", "secumail.cli", *args], input=stdin, capture_output=True,
                          text=True, env=_env(), timeout=600, cwd=REPO, preexec_fn=lambda: os.umask(0))  # fmt: skip


def _start_daemon() -> subprocess.Popen:
    """secumaild as procd runs it (debug log to a file), umask 000 too; its jobs run as workers."""
    with open(f"{WORK}/secumaild.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "secumail.daemon", "--stderr", "--debug"], env=_env(),
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.umask(0))  # fmt: skip
    deadline = time.monotonic() + 15
    while not os.path.exists(f"{WORK}/run/control.sock"):
        assert proc.poll() is None and time.monotonic() < deadline, _read(f"{WORK}/secumaild.log")[-2000:]
        time.sleep(0.05)
    return proc


def _teardown() -> None:
    _cleanup_stale(NAME, LXC, BRIDGE)
    from secumail.container import network

    if network.bridge_exists(BRIDGE):
        with contextlib.suppress(Exception):
            network.remove_bridge(BRIDGE)
    shutil.rmtree(WORK, ignore_errors=True)


def _write_config(servers) -> None:  # noqa: F811 - the fixture's value
    pebble = servers["pebble"]
    os.makedirs(f"{WORK}/config", mode=0o700)
    credentials = servers["knot"].credentials_file(f"{WORK}/dns.secret")
    with open(f"{WORK}/config/mailserver", "w") as handle:
        handle.write(f"""
config mailserver 'main'
	option domain '{world.ZONE}'
	option hostname 'mail'
	option data_path '{DATA}'
	option container '{NAME}'

config dkim 'dkim'
	option key_bits '1024'

config ssl 'ssl'
	option type 'acme'

config acme 'acme'
	option directory '{pebble.directory}'
	option ca_bundle '{pebble.ca_file}'
	option key_type 'ec256'

config dns 'dns'
	option provider 'rfc2136'
	option server '{world.DNS_ADDR}'
	option zone '{world.ZONE}'
	option credentials '{credentials}'
	option timeout '2'

config container 'container'
	option lxc_path '{LXC}'
	option bridge '{BRIDGE}'
	option host_address '{SUBNET}.1/24'
	option address '{SUBNET}.2/24'
""")


@pytest.fixture(scope="module")
def run(servers):  # noqa: F811 - pytest fixture injection
    need_root()
    ensure_apt_packages()
    _teardown()
    _write_config(servers)
    steps = [
        ("install", ("--debug", "install"), ""),
        ("daemon", (), ""),
        ("user", ("--debug", "user", "add", MAILBOX, "--password-stdin"), PASSWORD + "\n"),
        ("ssl", ("--debug", "ssl-setup"), ""),
        # the same through secumaild (LuCI's way): a worker process, the daemon's log
        ("ssl job", ("--debug", "jobs", "start", "ssl-setup", "--args", '{"force": true}', "--wait"), ""),
        ("backup", ("--debug", "mesh", "backup", "--file", f"{WORK}/export.smb"), ""),
        ("backup job", ("--debug", "jobs", "start", "backup", "--wait"), ""),
        ("key", ("--debug", "--json", "mesh", "key", "export"), ""),
        ("backup2", ("--debug", "mesh", "backup"), ""),  # after the export: the recovery slot is in it too
    ]
    daemon = None
    result = Run(scanner=ArgvScanner((PASSWORD, servers["knot"].secret)), started=time.time(),
                 tsig=servers["knot"].secret)  # fmt: skip
    try:
        with result.scanner:
            for name, args, stdin in steps:
                if name == "daemon":
                    daemon = _start_daemon()
                    continue
                done = mailctl(*args, stdin=stdin)
                result.outputs[name] = done
                assert done.returncode == 0, f"mailctl {' '.join(args)}: {done.stderr[-2000:]}"
        result.recovery_key = json.loads(result.outputs["key"].stdout)["recovery_key"]
        yield result
    finally:
        terminate(daemon, 20)
        with contextlib.suppress(Exception):
            mailctl("stop")
        _teardown()


# -- what the secrets are ----------------------------------------------------------------------------


def _files(*roots: str, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for root in roots:
        for directory, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if os.path.join(directory, d) not in skip]
            found += [os.path.join(directory, n) for n in names]
    return found


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(4 << 20)
    except OSError:
        return b""


def _key_lines(pem: bytes) -> list[bytes]:
    """The base64 lines of every private key in a PEM file (what a leak would show)."""
    lines, inside = [], False
    for line in pem.splitlines():
        if b"PRIVATE KEY-----" in line:
            inside = line.startswith(b"-----BEGIN")
            continue
        if inside and len(line) >= 16:
            lines.append(line.strip())
    return lines


def _rootfs() -> str:
    return os.path.join(LXC, NAME, "rootfs")


def _private_key_files() -> list[str]:
    return [p for p in _files(WORK, skip=(_rootfs(),)) if os.path.isfile(p) and b"PRIVATE KEY-----" in _read(p)]


def _secrets(run: Run) -> dict[str, bytes]:
    secrets = {"mailbox password": PASSWORD.encode(), "TSIG secret": run.tsig.encode(),
               "recovery key": run.recovery_key.encode()}  # fmt: skip
    secrets["recovery key (no dashes)"] = run.recovery_key.replace("-", "").encode()
    with open(f"{DATA}/mesh/master.key", "rb") as handle:
        master = handle.read().strip()
    secrets["master key"] = master
    secrets["master key (hex)"] = base64.b64decode(master).hex().encode()
    for line in _read(f"{DATA}/config/users").splitlines():
        if line.startswith(MAILBOX.encode() + b":"):
            secrets["password hash"] = line.split(b":")[1]
    for path in _private_key_files():
        for n, line in enumerate(_key_lines(_read(path))):
            secrets[f"{os.path.relpath(path, WORK)} line {n + 1}"] = line
    return secrets


def test_the_run_made_every_kind_of_secret(run):
    keys = [os.path.relpath(p, DATA) for p in _private_key_files() if p.startswith(DATA + "/")]
    assert "ssl/privkey.pem" in keys
    assert any(k.endswith("account.key") for k in keys), keys
    assert "mesh/node.key" in keys
    assert any(k.startswith("dkim/") for k in keys), keys
    assert os.path.exists(f"{DATA}/mesh/master.key") and len(run.recovery_key) >= 32
    secrets = _secrets(run)
    assert "password hash" in secrets
    assert len([name for name in secrets if " line " in name]) >= 10, sorted(secrets)


# -- files ------------------------------------------------------------------------------------------


def _secret_files(run: Run) -> list[str]:
    """Every file (outside the image's own rootfs) that holds a secret, plus the ones secret by what they are."""
    values = list(_secrets(run).values())
    candidates = _files(WORK, skip=(_rootfs(),))
    held = [p for p in candidates if os.path.isfile(p) and not os.path.islink(p)
            and any(v in _read(p) for v in values)]  # fmt: skip
    by_kind = [f"{DATA}/mesh/master.key", f"{DATA}/mesh/node.key", f"{WORK}/export.smb", f"{DATA}/config/users"]
    by_kind += [p for p in candidates if "/keys/" in p or p.endswith((".key", ".private", "recovery.pub"))]
    return sorted(set(held + [p for p in by_kind if os.path.isfile(p)]))


# Dovecot's auth process (user dovecot, not root) reads the password file through its group: the one
# secret file a group may read. That group must be Dovecot's own, no host group (next test).
GROUP_READ = {f"{DATA}/config/users"}


def test_no_secret_file_is_group_or_world_readable(run):
    loose = []
    for path in _secret_files(run):
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode & 0o007 or (mode & 0o070 and path not in GROUP_READ) or mode & 0o030:
            loose.append(f"{os.path.relpath(path, WORK)} {mode:04o}")
    assert loose == [], loose


def _idmapped() -> bool:
    with open(os.path.join(LXC, NAME, "config")) as handle:
        return any(line.strip().startswith("lxc.idmap") for line in handle)


def test_secret_files_belong_to_root_or_to_no_host_account(run):
    """A file owned (or group-readable) by a container user is readable by the host account with the same
    id unless the container's ids are mapped away from the host's (lxc.idmap)."""
    import grp
    import pwd

    host_uids = {p.pw_uid: p.pw_name for p in pwd.getpwall()}
    host_gids = {g.gr_gid: g.gr_name for g in grp.getgrall()}
    host_gids.update({p.pw_gid: f"primary group of {p.pw_name}" for p in pwd.getpwall() if p.pw_gid not in host_gids})
    problems = []
    for path in _secret_files(run):
        st = os.lstat(path)
        where = os.path.relpath(path, WORK)
        if st.st_uid != 0 and st.st_uid in host_uids:
            problems.append(f"{where}: owner uid {st.st_uid} is the host's {host_uids[st.st_uid]}")
        if st.st_mode & 0o040 and st.st_gid in host_gids:
            problems.append(f"{where}: readable by gid {st.st_gid}, the host's {host_gids[st.st_gid]}")
    if problems and not _idmapped():
        pytest.xfail(f"the container has no id map (issue 13 item 5, branch h13-container): {problems}")
    assert problems == []


def test_no_directory_holding_a_secret_is_writable_by_others(run):
    """A directory others may write lets them swap a key file for their own (or a symlink)."""
    loose = set()
    for path in _secret_files(run):
        directory = os.path.dirname(path)
        while directory.startswith(WORK):
            mode = stat.S_IMODE(os.stat(directory).st_mode)
            if mode & 0o022:
                loose.add(f"{os.path.relpath(directory, WORK) or '.'} {mode:04o}")
            directory = os.path.dirname(directory)
    assert sorted(loose) == [], sorted(loose)


def test_the_container_rootfs_holds_no_secret_readable_by_others(run):
    """Inside the container (data is bind-mounted there; the image itself ships no key)."""
    loose = []
    rootfs = _rootfs()
    for sub in ("etc", "var/lib", "run", "root", "tmp"):
        for path in _files(os.path.join(rootfs, sub)):
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o077 and b"PRIVATE KEY-----" in _read(path):
                loose.append(f"{os.path.relpath(path, rootfs)} {mode:04o}")
    assert loose == [], loose


# -- argv -------------------------------------------------------------------------------------------


def test_no_secret_in_any_argv(run):
    assert run.scanner.scans > 100
    assert run.scanner.ran("secumail.cli") and run.scanner.ran("secumail.certs.worker")
    assert run.scanner.ran("secumail.daemon.worker")
    assert run.scanner.seen == []
    leaked = {name: run.scanner.holding(value)[:2] for name, value in _secrets(run).items()
              if run.scanner.holding(value)}  # fmt: skip
    assert leaked == {}


# -- logs -------------------------------------------------------------------------------------------


def _logs(run: Run) -> dict[str, bytes]:
    logs = {}
    for name, done in run.outputs.items():
        # the recovery key is shown once on key export's stdout, by design: that is its output, not a log
        logs[f"mailctl {name} stderr"] = done.stderr.encode()
        if name != "key":
            logs[f"mailctl {name} stdout"] = done.stdout.encode()
    logs["mailctl key stdout without the key"] = run.outputs["key"].stdout.replace(run.recovery_key, "").encode()
    rootfs = _rootfs()
    for path in _files(os.path.join(rootfs, "var/log"), os.path.join(LXC, NAME)):
        if path.startswith(rootfs + "/") and not path.startswith(os.path.join(rootfs, "var/log")):
            continue
        logs[os.path.relpath(path, WORK)] = _read(path)
    logs["secumaild.log"] = _read(f"{WORK}/secumaild.log")
    for path in _files(DATA):
        if path.endswith(".log") or "/log/" in path:
            logs[os.path.relpath(path, WORK)] = _read(path)
    for path in _files("/var/log"):  # the host's syslog, journal text files, … written during the run
        with contextlib.suppress(OSError):
            if os.stat(path).st_mtime >= run.started and not path.endswith((".gz", ".journal")):
                logs[path] = _read(path)
    return logs


def test_no_secret_in_the_logs(run):
    logs = _logs(run)
    assert any(b"DEBUG" in text or b"debug" in text for text in logs.values()), "no debug output was produced"
    assert any("var/log/mail.log" in name for name in logs), sorted(logs)
    assert b"job " in logs["secumaild.log"] and b"(ssl-setup) done" in logs["secumaild.log"]
    leaked = [f"{secret} in {where}" for secret, value in _secrets(run).items()
              for where, text in logs.items() if value in text]  # fmt: skip
    assert leaked == []
    assert [where for where, text in logs.items() if b"PRIVATE KEY-----" in text] == []
