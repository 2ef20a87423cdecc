"""Build a Debian rootfs image for the mail container with debootstrap.

The image holds packages only: no service runs at build time, no private key
is left in it (every install would share it), no apt cache. State lives in
data_path and is bind-mounted by the runtime.

The mirror is read from the host's apt sources (never hard-coded) unless the
caller passes one: routers and CI machines each have their own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Callable

from secumail.container import binfmt
from secumail.errors import CommandFailed, ContainerError, SecumailError
from secumail.system.proc import run, which

Progress = Callable[[str], None]

SUITE = "bookworm"

# What the mail layer needs, and nothing else. tini is PID 1 (reaps the
# orphans Postfix and Dovecot leave behind); minbase has no init at all.
PACKAGES: tuple[str, ...] = (
    "postfix",
    "libsasl2-modules",  # PLAIN/LOGIN for Postfix's SMTP client: AUTH at a smarthost (config relay)
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-pop3d",
    "dovecot-sieve",
    "dovecot-managesieved",
    "opendkim",
    "opendkim-tools",
    # features.spam_filter: Rspamd as Postfix's milter, Redis for its Bayes tokens (capped by
    # protection.bayes_memory); installed always, started only when the filter is on.
    "rspamd",
    "redis-server",
    # features.spam_filter 0 (the light path): SPF as a Postfix policy (Perl, spawned per connection)
    # and OpenDMARC as a milter rejecting p=reject failures. dbconfig-no-thanks: opendmarc's optional
    # report database would otherwise pull a MySQL client.
    "postfix-policyd-spf-perl",
    "opendmarc",
    "dbconfig-no-thanks",
    # features.virus_scan: clamd, clamav-milter (Postfix's milter) and freshclam; installed always,
    # started only when scanning is on (signatures in data_path/clamav, not in the image).
    "clamav-daemon",
    "clamav-milter",
    "clamav-freshclam",
    # dns.mta_sts testing|enforce: lighttpd (with its TLS module) serves our MTA-STS policies on 443;
    # features.mta_sts_outbound: postfix-mta-sts-resolver checks other domains' (docs/mta-sts.md). Both
    # installed always, started only when their option is on.
    "lighttpd",
    "lighttpd-mod-openssl",
    "postfix-mta-sts-resolver",
    # features.dav: CalDAV/CardDAV (Radicale 3.1, Python); installed always, started only when on.
    "radicale",
    "ca-certificates",
    "tini",
)

INIT_PATH = "/usr/local/sbin/secumail-init"

# PID 2 under tini. lxc-stop sends SIGTERM (lxc.signal.halt), tini forwards it here.
INIT_SCRIPT = """#!/bin/sh
# secumail container init (PID 2; tini is PID 1 and reaps orphans).
# Runs /etc/secumail/start at boot and /etc/secumail/stop on halt, when present
# and executable; the mail layer provides them (e.g. through a bind mount).
hook() { if [ -x "/etc/secumail/$1" ]; then "/etc/secumail/$1"; fi; }
halt() { hook stop; exit 0; }
trap halt TERM INT HUP
hook start
while :; do sleep 2147483647 & wait $!; done
"""

DEBCONF = """postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string localhost.localdomain
"""


RECIPE_VERSION = "2"


def recipe_id() -> str:
    """Changes whenever the way an image is built changes (part of the cache key)."""
    import hashlib

    blob = "\0".join((RECIPE_VERSION, INIT_SCRIPT, DEBCONF, INIT_PATH))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AptSource:
    """One `deb` line / deb822 stanza of the host's apt configuration."""

    uri: str
    suite: str
    components: tuple[str, ...]


def _parse_one_line(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            if words:
                words.pop(0)
        if len(words) >= 2:
            out.append(AptSource(words[0], words[1], tuple(words[2:])))
    return out


def _parse_deb822(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in stanza.get("types", "").split():
            continue
        comps = tuple(stanza.get("components", "").split())
        for uri in stanza.get("uris", "").split():
            for suite in stanza.get("suites", "").split():
                out.append(AptSource(uri, suite, comps))
    return out


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
            continue
        if raw[0] in " \t" and key:  # continuation line
            stanza[key] += " " + raw.strip()
            continue
        if ":" in raw:
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()
    if stanza:
        yield stanza


def host_apt_sources(etc_apt: str = "/etc/apt") -> list[AptSource]:
    """Every enabled `deb` source of the host: sources.list, *.list and *.sources (deb822)."""
    sources: list[AptSource] = []
    files = [os.path.join(etc_apt, "sources.list")]
    files += sorted(glob.glob(os.path.join(etc_apt, "sources.list.d", "*.list")))
    files += sorted(glob.glob(os.path.join(etc_apt, "sources.list.d", "*.sources")))
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        sources += _parse_deb822(text) if path.endswith(".sources") else _parse_one_line(text)
    return sources


def mirror_for(suite: str, sources: Sequence[AptSource]) -> str | None:
    """The URI that serves `suite` itself (not -updates/-security) with component main."""
    for src in sources:
        if src.suite == suite and "main" in src.components:
            return src.uri
    return None


def suite_sources(suite: str, sources: Sequence[AptSource], mirror: str) -> list[AptSource]:
    """The sources the image should use: the suite from `mirror`, plus the host's
    suite-updates and suite-security entries (so the image gets security fixes)."""
    chosen = [AptSource(mirror, suite, ("main",))]
    for extra in (f"{suite}-updates", f"{suite}-security"):
        for src in sources:
            if src.suite == extra and "main" in src.components:
                chosen.append(AptSource(src.uri, extra, ("main",)))
                break
    return chosen


def missing_packages(rootfs: str, packages: Sequence[str] = PACKAGES) -> list[str]:
    """Which of `packages` the image at `rootfs` lacks (its dpkg status): an image built by an older
    version of the agent may not carry what this one configures (e.g. rspamd)."""
    try:
        with open(os.path.join(rootfs, "var", "lib", "dpkg", "status"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return list(packages)
    installed = {
        stanza.get("package", "") for stanza in _deb822_stanzas(text) if stanza.get("status", "").endswith(" installed")
    }
    return [name for name in packages if name not in installed]


def host_arch() -> str:
    """Debian name of this machine's architecture (dpkg when present, else uname)."""
    if which("dpkg"):
        return run(["dpkg", "--print-architecture"]).stdout.strip()
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386"}.get(machine, machine)


def build(
    target: str,
    *,
    suite: str = SUITE,
    arch: str | None = None,
    mirror: str | None = None,
    packages: Sequence[str] = PACKAGES,
    progress: Progress | None = None,
    etc_apt: str = "/etc/apt",
) -> None:
    """Debootstrap `suite` into `target` (must not exist or be empty) and install `packages`.

    Takes minutes; `progress` gets one line per phase. Raises ContainerError.
    """
    say = progress or (lambda _line: None)
    if os.geteuid() != 0:
        raise ContainerError("building a Debian image needs root (debootstrap)")
    if not which("debootstrap"):
        raise ContainerError("debootstrap not found: install it (apt-get install debootstrap)")
    if os.path.exists(target) and os.listdir(target):
        raise ContainerError(f"image dir {target} is not empty: remove it or pick another")
    sources = host_apt_sources(etc_apt)
    if mirror is None:
        mirror = mirror_for(suite, sources)
        if mirror is None:
            raise ContainerError(f"no apt source for {suite} main in {etc_apt}: pass a mirror explicitly")
    host = host_arch()
    arch = arch or host
    foreign = binfmt.needs_emulation(arch, host)
    if foreign:
        say(f"{arch} on a {host} machine: qemu-user-static through binfmt_misc "
            f"({binfmt.ensure(arch, host)})")  # fmt: skip
    os.makedirs(target, exist_ok=True)
    t0 = time.monotonic()
    say(f"debootstrap {suite} ({arch}, minbase) from {mirror} into {target}")
    _debootstrap(target, suite=suite, arch=arch, mirror=mirror, foreign=foreign, progress=say)
    say(f"debootstrap done in {time.monotonic() - t0:.0f} s")
    _write_sources(target, suite_sources(suite, sources, mirror))
    t1 = time.monotonic()
    say(f"installing {len(packages)} packages: {' '.join(packages)}")
    with _build_mounts(target):
        _chroot(target, ["debconf-set-selections"], input=DEBCONF)
        _chroot(target, ["apt-get", "update"], timeout=1200)
        _chroot(
            target,
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
            timeout=7200,  # under emulation (a foreign arch) maintainer scripts run ~10x slower
        )
        _chroot(target, ["apt-get", "clean"])
        # main.cf got the build machine's hostname; without it Postfix uses the container's.
        if "postfix" in packages:
            _chroot(target, ["postconf", "-X", "myhostname"])
    say(f"packages installed in {time.monotonic() - t1:.0f} s")
    strip_image(target)
    say(f"image ready in {time.monotonic() - t0:.0f} s")


def _debootstrap(target: str, *, suite: str, arch: str, mirror: str, foreign: bool, progress: Progress) -> None:
    """debootstrap in one go, or for a foreign architecture in its two stages: the first unpacks
    the packages with host tools, the second configures them by running the image's own
    binaries in a chroot (emulated by qemu through binfmt_misc)."""
    argv = ["debootstrap", "--variant=minbase", f"--arch={arch}"]
    try:
        if not foreign:
            run([*argv, suite, target, mirror], timeout=3600)
            return
        run([*argv, "--foreign", suite, target, mirror], timeout=3600)
        progress(f"debootstrap second stage under emulation ({arch})")
        run(["chroot", target, "/debootstrap/debootstrap", "--second-stage"], timeout=7200,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})  # fmt: skip
    except SecumailError as exc:
        raise ContainerError(f"debootstrap failed: {exc}") from None


def _write_sources(target: str, sources: Sequence[AptSource]) -> None:
    lines = [f"deb {s.uri} {s.suite} {' '.join(s.components)}" for s in sources]
    with open(os.path.join(target, "etc/apt/sources.list"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _chroot(target: str, args: list[str], input: str | None = None, timeout: float = 600) -> None:
    env = {
        "DEBIAN_FRONTEND": "noninteractive",
        "DEBCONF_NONINTERACTIVE_SEEN": "true",
        "LC_ALL": "C",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    try:
        run(["chroot", target, *args], input=input, timeout=timeout, env=env)
    except CommandFailed as exc:
        raise ContainerError(f"in image build, {' '.join(args[:3])} failed: {exc}") from None
    except SecumailError as exc:
        raise ContainerError(f"in image build, {' '.join(args[:3])}: {exc}") from None


@contextlib.contextmanager
def _build_mounts(target: str):
    """/proc for maintainer scripts, the host's resolv.conf for apt, policy-rc.d so
    nothing starts — all undone afterwards, even on failure."""
    proc_dir = os.path.join(target, "proc")
    policy = os.path.join(target, "usr/sbin/policy-rc.d")
    resolv = os.path.join(target, "etc/resolv.conf")
    saved_resolv = None
    if os.path.lexists(resolv):
        saved_resolv = resolv + ".secumail-build"
        os.replace(resolv, saved_resolv)
    with contextlib.suppress(OSError):
        shutil.copyfile("/etc/resolv.conf", resolv)
    with open(policy, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\n# secumail image build: never start services\nexit 101\n")
    os.chmod(policy, 0o755)  # noqa: S103 (an executable)
    run(["mount", "-t", "proc", "proc", proc_dir])
    try:
        yield
    finally:
        run(["umount", "-l", proc_dir], check=False)
        with contextlib.suppress(OSError):
            os.unlink(policy)
        with contextlib.suppress(OSError):
            os.unlink(resolv)
        if saved_resolv:
            os.replace(saved_resolv, resolv)


def strip_image(target: str) -> None:
    """Leave packages only: no apt cache or lists, no logs, no docs, no private keys,
    no machine id. Install the container init script."""
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*_*",
        "var/log/*.log",
        "var/log/apt/*",
        "var/cache/debconf/*-old",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*/LC_MESSAGES/*.mo",  # translations: ~34 MB nobody reads on a router
        "tmp/*",
        "var/tmp/*",
        "run/*",
        # Snakeoil and Dovecot's generated key: the same key would ship to every router.
        "etc/ssl/private/ssl-cert-snakeoil.key",
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
        "etc/dovecot/private/dovecot.key",
        "etc/dovecot/private/dovecot.pem",
    ):
        for path in glob.glob(os.path.join(target, pattern)):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
    # Docs go, copyright files stay (licences travel with the binaries).
    doc = os.path.join(target, "usr/share/doc")
    for root, _dirs, files in os.walk(doc):
        for name in files:
            if name != "copyright":
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))
    machine_id = os.path.join(target, "etc/machine-id")
    if os.path.exists(machine_id):
        with open(machine_id, "w", encoding="utf-8"):
            pass
    install_init(target)


def install_init(target: str) -> None:
    """Write the container's init script (see INIT_SCRIPT) into the image."""
    path = os.path.join(target, INIT_PATH.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(INIT_SCRIPT)
    os.chmod(path, 0o755)  # noqa: S103 (an executable)
    os.makedirs(os.path.join(target, "etc/secumail"), exist_ok=True)
