"""The webmail container: Roundcube (secumail.mail.webmail) in an LXC container of its own.

It sits on the mail container's bridge at the next address and is a client of the mail server
like any other: nothing of data_path is mounted in it but data_path/webmail (its SQLite
database). Its rootfs is a cached Debian image (the image cache of the mail image, another
package list); the files configuring it are written into the rootfs from Settings at each
install or configure.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from typing import Any

from secumail.appliance.image import Progress, quiet
from secumail.appliance.spec import image_cache_dir, service_address, stable_hwaddr
from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.container.lxcconf import BindMount, ContainerSpec
from secumail.container.runtime import Container
from secumail.errors import ContainerError, InputError
from secumail.mail import webmail as render

PASSWORD_KEY_LENGTH = 40  # characters of token_urlsafe: 240 random bits
MEMORY_MB = 160  # php-fpm's workers at 64 MiB each at most, on demand (docs/webmail.md)
_PHP_VERSION_GLOB = "usr/sbin/php-fpm*"


def rootfs_path(settings: Settings) -> str:
    return os.path.join(settings.container.lxc_path, settings.webmail.container, "rootfs")


def container_for(settings: Settings) -> Container:
    return Container(settings.webmail.container, settings.container.lxc_path)


def address(settings: Settings) -> str:
    return str(render.webmail_address(settings).ip)


def url(settings: Settings) -> str:
    """Where Roundcube answers from the host (on OpenWrt, fw4 forwards webmail.port from wan to it)."""
    return f"http://{address(settings)}:{settings.webmail.port}/"


def spec_for(settings: Settings, idmap: IdMap) -> ContainerSpec:
    c = settings.container
    name = settings.webmail.container
    return ContainerSpec(
        name=name,
        lxcpath=c.lxc_path,
        rootfs=rootfs_path(settings),
        bridge=c.bridge,
        bridge_address=str(c.host_address),
        address=str(render.webmail_address(settings)),
        memory_mb=MEMORY_MB,
        cgroup_dir=c.cgroup,  # beside the mail container: a limit set there covers both
        mounts=(BindMount(settings.layout.webmail, render.DATA),),
        hostname=name,
        hwaddr=stable_hwaddr(name),
        idmap=idmap,
    )


def _check(settings: Settings) -> None:
    if settings.container.network_mode != "bridge":
        raise InputError("mailserver.container.network_mode: the webmail container needs the bridge mode")
    if settings.webmail.container == settings.main.container:
        raise InputError("mailserver.webmail.container: must not be the mail container's name")
    if not os.path.isfile(settings.layout.fullchain):
        raise ContainerError(f"no certificate at {settings.layout.fullchain}: run 'mailctl install' first")


def _ready_to_start(rootfs: str, progress: Progress) -> None:
    """What the mail container's start checks too: user namespaces, and for an image of another
    architecture (container.arch) its emulator registered, which a reboot undoes."""
    from secumail.container import binfmt
    from secumail.container.provision.debian import host_arch

    if not idmap_mod.user_namespaces_available():
        raise ContainerError("this kernel has no user namespaces (CONFIG_USER_NS): the webmail container runs "
                             "unprivileged and needs them (see docs/openwrt.md)")  # fmt: skip
    if binfmt.ensure_for_image(rootfs, host_arch()) == "registered":
        progress("registered qemu-user-static with binfmt_misc: the webmail image is of another architecture")


def _ensure_image(settings: Settings, idmap: IdMap, progress: Progress) -> str:
    from secumail.container import cache

    rootfs = rootfs_path(settings)
    if os.path.isdir(os.path.join(rootfs, "usr/share/roundcube")):
        return "present"
    c = settings.container
    if c.provisioner != "debian":
        raise InputError("mailserver.container.provisioner: the webmail image is built with 'debian' only")
    os.makedirs(os.path.dirname(rootfs), exist_ok=True)
    progress("building or unpacking the Debian webmail image (first time: a few minutes)")
    cache.debian_image(image_cache_dir(settings), rootfs, suite=c.suite, arch=c.arch or None, mirror=c.mirror or None,
                       packages=render.PACKAGES, progress=progress, idmap=idmap)  # fmt: skip
    return "made"


def _kept_secret(path: str, length: int) -> str:
    """A random key of `length` characters, made once and kept on the host (0600)."""
    from secumail.system.files import atomic_write

    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            key = handle.read().strip()
        if len(key) == length:
            return key
    key = secrets.token_urlsafe(length * 3 // 4)
    atomic_write(path, key + "\n", 0o600)
    return key


def _des_key(settings: Settings) -> str:
    """Roundcube's key for the passwords in its sessions (24 characters: its 3DES key length)."""
    return _kept_secret(settings.layout.webmail_key, 24)


def password_key(settings: Settings) -> str:
    """What the password plugin sends secumaild's password service, beside coming from the right address."""
    return _kept_secret(settings.layout.webmail_password_key, PASSWORD_KEY_LENGTH)


def _ca_bundle(settings: Settings, rootfs: str) -> str:
    """What Roundcube trusts for the server: the image's CAs, the ACME CA bundle when one is set
    (a private CA), and the server's certificate itself when it is self-signed (before ACME)."""
    parts = []
    for path in (os.path.join(rootfs, "etc/ssl/certs/ca-certificates.crt"), settings.acme.ca_bundle):
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                parts.append(handle.read())
    with open(settings.layout.fullchain, encoding="utf-8") as handle:
        chain = handle.read()
    if render.self_signed(chain):
        parts.append(chain)
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def php_version(rootfs: str) -> str:
    """8.2 for the image's /usr/sbin/php-fpm8.2."""
    found = sorted(os.path.basename(p)[len("php-fpm"):] for p in glob.glob(os.path.join(rootfs, _PHP_VERSION_GLOB)))
    if not found:
        raise ContainerError(f"no php-fpm in the webmail image {rootfs}: remove it ('mailctl webmail remove') "
                             "and install again")  # fmt: skip
    return found[-1]


def write_config(settings: Settings, idmap: IdMap) -> list[str]:
    """Every file configuring the container, rendered from Settings and written into its rootfs."""
    from secumail.system.files import atomic_write

    rootfs = rootfs_path(settings)
    php = php_version(rootfs)
    www = idmap_mod.image_id(rootfs, "www-data") or 33
    files: list[tuple[str, str, int, int]] = [  # path, text, mode, group inside
        ("etc/roundcube/config.inc.php", render.roundcube_config(settings, _des_key(settings)), 0o640, www),
        ("etc/roundcube/plugins/managesieve/config.inc.php", render.managesieve_config(settings), 0o644, 0),
        ("etc/roundcube/plugins/password/config.inc.php", render.password_config(settings, password_key(settings)),
         0o640, www),
        (render.CA_FILE, _ca_bundle(settings, rootfs), 0o644, 0),
        ("etc/lighttpd/webmail.conf", render.lighttpd_conf(settings), 0o644, 0),
        (f"etc/php/{php}/fpm/pool.d/webmail.conf", render.fpm_pool(), 0o644, 0),
        ("etc/secumail/start", render.start_script(php), 0o755, 0),
        ("etc/secumail/stop", render.STOP_SCRIPT, 0o755, 0),
        ("etc/hosts", render.hosts(settings, service_address(settings)), 0o644, 0),
        ("etc/resolv.conf", "# no resolver: the webmail container talks to the mail server only\n", 0o644, 0),
    ]
    written = []
    with_debian_pool = os.path.join(rootfs, f"etc/php/{php}/fpm/pool.d/www.conf")
    if os.path.exists(with_debian_pool):  # Debian's pool keeps two idle workers: ours starts them on demand
        os.unlink(with_debian_pool)
    for rel, text, mode, group in files:
        path = os.path.join(rootfs, rel.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.islink(path):
            os.unlink(path)
        atomic_write(path, text, mode)
        os.lchown(path, idmap.uid(0), idmap.gid(group))
        written.append("/" + rel.lstrip("/"))
    data = settings.layout.webmail
    os.makedirs(data, mode=0o700, exist_ok=True)
    os.chown(data, idmap.uid(www), idmap.gid(www))
    os.chmod(data, 0o700)
    return written


def install(settings: Settings, progress: Progress = quiet) -> dict[str, Any]:
    """Image, config, container up, Roundcube answering. Safe to run again (the database stays)."""
    from secumail.appliance import host
    from secumail.appliance.spec import container_idmap
    from secumail.container import network

    _check(settings)
    idmap = container_idmap()
    image = _ensure_image(settings, idmap, progress)
    hand_to_ids(settings, idmap, progress)
    spec = spec_for(settings, idmap)
    network.ensure_bridge(spec.bridge, spec.bridge_address)
    host.open_bridge_input(settings, spec.bridge)
    container = container_for(settings)
    if container.exists() and container.running():
        container.stop()
    write_config(settings, idmap)
    container.define(spec)
    _ready_to_start(rootfs_path(settings), progress)
    progress(f"starting container {spec.name}")
    container.start()
    seconds = wait_for_http(settings)
    host.sync_firewall(settings)
    return {"result": "ok", "image": image, "container": container.state(), "url": url(settings),
            "http_seconds": round(seconds, 2)}  # fmt: skip


def hand_to_ids(settings: Settings, idmap: IdMap, progress: Progress = quiet) -> None:
    """The image, and Roundcube's database with it, to the container's ids: after a change of root's
    subuid range both move from the ids of the map the image was handed to before."""
    rootfs = rootfs_path(settings)
    old = idmap_mod.rootfs_map(rootfs)
    if idmap_mod.ensure_rootfs(rootfs, idmap):
        progress(f"handed the webmail image to the container's ids ({idmap.key})")
    if old is not None and old != idmap:
        idmap_mod.shift_tree(settings.layout.webmail, idmap, old)


def configure(settings: Settings) -> dict[str, Any]:
    """Write the config from the current settings again and restart the container (a second or two)."""
    from secumail.appliance.spec import container_idmap

    _check(settings)
    container = installed(settings)
    idmap = idmap_mod.rootfs_map(rootfs_path(settings)) or container_idmap()
    was_running = container.running()
    if was_running:
        container.stop()
    files = write_config(settings, idmap)
    container.define(spec_for(settings, idmap))
    _ready_to_start(rootfs_path(settings), quiet)
    container.start()
    return {"result": "ok", "files": files, "http_seconds": round(wait_for_http(settings), 2)}


def remove(settings: Settings, purge: bool = False) -> dict[str, Any]:
    """Stop and delete the container and its rootfs; with `purge` its database and key too."""
    container = container_for(settings)
    removed = False
    if container.exists():
        container.destroy()
        removed = True
    shutil.rmtree(os.path.join(settings.container.lxc_path, settings.webmail.container), ignore_errors=True)
    purged = []
    if purge:
        for path in (settings.layout.webmail, settings.layout.webmail_key, settings.layout.webmail_password_key):
            if os.path.isdir(path):
                shutil.rmtree(path)
                purged.append(path)
            elif os.path.exists(path):
                os.unlink(path)
                purged.append(path)
    return {"result": "ok", "removed": removed, "purged": purged,
            "kept": [] if purge else [settings.layout.webmail]}  # fmt: skip


def installed(settings: Settings) -> Container:
    container = container_for(settings)
    if not container.exists() or not os.path.isdir(rootfs_path(settings)):
        raise ContainerError(f"the webmail container {settings.webmail.container!r} is not installed: "
                             "run 'mailctl webmail install'")  # fmt: skip
    return container


def login_page(settings: Settings, timeout: float = 5) -> tuple[bool, str]:
    """(answers, detail): Roundcube's login form over HTTP."""
    try:
        with urllib.request.urlopen(url(settings), timeout=timeout) as answer:  # noqa: S310 (our own http URL)
            body = answer.read(200000).decode("utf-8", "replace")
            ok = answer.status == 200 and "rcmloginuser" in body
            return ok, f"HTTP {answer.status}" + ("" if ok else ", no login form")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))


def wait_for_http(settings: Settings, timeout: float = 30) -> float:
    began = time.monotonic()
    detail = ""
    while time.monotonic() - began < timeout:
        ok, detail = login_page(settings, timeout=3)
        if ok:
            return time.monotonic() - began
        time.sleep(0.2)
    raise ContainerError(f"Roundcube does not answer at {url(settings)} within {timeout:.0f} s ({detail})"
                         + _last_log_lines(settings))  # fmt: skip


def _last_log_lines(settings: Settings) -> str:
    """The last lines of lighttpd's and php-fpm's logs in the container, for the error message."""
    rootfs = rootfs_path(settings)
    found = []
    for path in ("var/log/lighttpd/error.log", *glob.glob(os.path.join(rootfs, "var/log/php*-fpm.log"))):
        full = os.path.join(rootfs, path)
        try:
            with open(full, encoding="utf-8", errors="replace") as handle:
                tail = [line.strip() for line in handle.read().splitlines()[-3:] if line.strip()]
        except OSError:
            continue
        found += [f"{os.path.basename(full)}: {line}" for line in tail]
    return ("; " + " | ".join(found)) if found else "; no lighttpd or php-fpm log in the container: its start failed"


# PHP run inside the container: a TLS connection to the IMAP port verified exactly as Roundcube's.
_TLS_PROBE = """<?php
$c = require '/etc/roundcube/config.inc.php';
$o = $config['imap_conn_options'];
$ctx = stream_context_create($o);
$s = @stream_socket_client($argv[1], $errno, $errstr, 5, STREAM_CLIENT_CONNECT, $ctx);
if (!$s) { fwrite(STDOUT, "FAIL $errstr\\n"); exit(1); }
$line = fgets($s, 512);
fwrite(STDOUT, "OK " . trim($line) . "\\n");
"""


def imap_from_container(settings: Settings, container: Container) -> tuple[bool, str]:
    """Whether the container reaches IMAP over TLS with the certificate verified against the name."""
    target = render.servers(settings)["imap"].replace("ssl://", "tls://", 1)
    if not target.startswith("tls://") or not settings.ports.imaps:
        return False, "IMAPS is off (ports.imaps 0)"
    result = container.exec(["php", "-r", "eval('?>' . stream_get_contents(STDIN));", target],
                            input=_TLS_PROBE, timeout=20)  # fmt: skip
    line = (result.stdout.strip().splitlines() or [result.stderr.strip() or "no answer"])[0]
    return line.startswith("OK * OK"), line[3:] if line.startswith(("OK ", "FAIL")) else line


def test_login(settings: Settings, user: str, password: str) -> tuple[bool, str]:
    """Log in through Roundcube's form (as a browser does) and say whether the mailbox opened."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(url(settings), timeout=10) as page:
            token = re.search(r'name="_token" value="([^"]+)"', page.read().decode("utf-8", "replace"))
        if token is None:
            return False, "no login form"
        form = urllib.parse.urlencode({"_token": token.group(1), "_task": "login", "_action": "login",
                                       "_timezone": "UTC", "_url": "", "_user": user, "_pass": password})
        with opener.open(url(settings) + "?_task=login", data=form.encode(), timeout=30) as answer:
            answer.read()
            landed = answer.url
    except urllib.error.HTTPError as exc:
        if exc.code == 401:  # Roundcube answers a refused login with its form again, status 401
            return False, f"{user}: login refused"
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))
    if "_task=mail" in landed:  # a successful login is redirected to the mailbox
        return True, f"{user} logged in"
    return False, f"{user}: login refused"


def status(settings: Settings, user: str | None = None, password: str | None = None) -> dict[str, Any]:
    """Container state, whether the login page answers, whether the container reaches IMAP over TLS
    with the certificate verified, and (with a user) whether a login through Roundcube works."""
    container = container_for(settings)
    state = container.state() if container.exists() else "not installed"
    out: dict[str, Any] = {"container": settings.webmail.container, "state": state, "url": url(settings),
                           "enabled": settings.webmail.enabled, "http": None, "imap_tls": None,
                           "login": None}  # fmt: skip
    if state != "RUNNING":
        return out
    ok, detail = login_page(settings)
    out["http"] = {"ok": ok, "detail": detail}
    ok, detail = imap_from_container(settings, container)
    out["imap_tls"] = {"ok": ok, "detail": detail}
    if user and password:
        ok, detail = test_login(settings, user, password)
        out["login"] = {"ok": ok, "detail": detail}
    return out

