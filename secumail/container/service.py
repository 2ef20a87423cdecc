"""The mail server as a whole: image + data layout + container + checked config.

This is what `mailctl install/start/stop/restart/logs/test/queue/image` and
the daemon's reconcile loop call. It composes the container runtime
(secumail.container) with the mail layer (secumail.mail): the container holds
packages only; every piece of state is in data_path. Only the parts the mail
services need are bind-mounted (secumail.mail.layout), and the container is
unprivileged: its ids are shifted (secumail.container.idmap), so the rootfs
and the mounted data are owned by the mapped ids.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from typing import Any, Callable

from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.container.lxcconf import BindMount, ContainerSpec
from secumail.container.runtime import Container
from secumail.errors import ContainerError, InputError, SecumailError
from secumail.mail import layout
from secumail.mail.layout import CONTAINER_DATA, QUEUE_DIRECTORY

log = logging.getLogger(__name__)

# The Postfix queue is state too: data_path/spool is bind-mounted on the image's queue directory, so a
# new image (mailctl image import, a rebuilt rootfs) or a restored backup keeps the queued mail.
SPOOL_DIR = "spool"
_QUEUE_SUBDIRS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "maildrop",
                  "saved", "trace")  # fmt: skip
Progress = Callable[[str], None]

# Inside the image: the container's init runs these at boot/halt (provision.debian.install_init).
_HOOK = "#!/bin/sh\n# Installed by secumail: hand over to the live config generation.\n" \
        "[ -x {data}/config/live/container/{name} ] || exit 0\nexec {data}/config/live/container/{name}\n"  # fmt: skip

# Paths of a used rootfs that hold state or logs, never part of an exported image.
STATE_PATHS = ("var/log", "var/spool/postfix", "run", "tmp", "var/tmp", "var/lib/dovecot")


def _quiet(_line: str) -> None:
    pass


def rootfs_path(settings: Any) -> str:
    return os.path.join(settings.container.lxc_path, settings.main.container, "rootfs")


def image_cache_dir(settings: Any) -> str:
    """Built images are cached here (keyed by package list); $SECUMAIL_IMAGE_CACHE overrides."""
    return os.environ.get("SECUMAIL_IMAGE_CACHE") or os.path.join(settings.container.lxc_path, ".images")


def _gateway(settings: Any) -> str | None:
    mode = settings.container.gateway
    if mode == "none" or settings.container.network_mode == "host":
        return None
    if mode == "auto" and not os.path.exists("/etc/openwrt_release"):
        return None  # a PC or a test host: the container talks to the host only
    return str(settings.container.host_address.ip)


def data_mounts(data_path: str) -> tuple[BindMount, ...]:
    """The bind mounts of data_path (secumail.mail.layout.MOUNTS): never mesh/, backup/ or ssl/acme/."""
    return tuple(BindMount(os.path.join(data_path, m.sub), m.target, read_only=m.read_only)
                 for m in layout.MOUNTS)  # fmt: skip


def data_masks() -> tuple[str, ...]:
    """Container paths hidden below the mounts (the ACME account keys under ssl/)."""
    return tuple(f"{CONTAINER_DATA}/{rel}" for rel in layout.MASKED)


def container_idmap() -> IdMap:
    """The id map of the mail container: root's range in /etc/subuid and /etc/subgid (added if missing)."""
    return idmap_mod.for_root()


def spec_for(settings: Any, idmap: IdMap | None = None) -> ContainerSpec:
    c = settings.container
    return ContainerSpec(
        name=settings.main.container,
        lxcpath=c.lxc_path,
        rootfs=rootfs_path(settings),
        bridge=c.bridge,
        bridge_address=str(c.host_address),
        address=str(c.address),
        gateway=_gateway(settings),
        memory_mb=c.memory,
        mounts=data_mounts(settings.main.data_path),
        masks=data_masks(),
        network_mode=c.network_mode,
        hostname=settings.main.fqdn,
        idmap=idmap or container_idmap(),
    )


def container_for(settings: Any) -> Container:
    return Container(settings.main.container, settings.container.lxc_path)


def service_address(settings: Any) -> str:
    """Where the mail services answer from the host."""
    return "127.0.0.1" if settings.container.network_mode == "host" else str(settings.container.address.ip)


# -- installation ---------------------------------------------------------------------------------


def ensure_layout(settings: Any) -> None:
    """data_path as the SecuBox mail server lays it out, plus dkim/; a self-signed certificate until ACME runs."""
    from secumail.mail.selfsigned import ensure_selfsigned

    data = settings.main.data_path
    for sub, mode in (("", 0o755), ("config", 0o755), ("mail", 0o755), ("home", 0o755), ("ssl", 0o755),
                      ("ssl/acme", 0o700), ("dkim", 0o700), (SPOOL_DIR, 0o755)):  # fmt: skip
        path = os.path.join(data, sub)
        os.makedirs(path, exist_ok=True)
        if sub:
            os.chmod(path, mode)
    ensure_selfsigned(data, settings.main.fqdn)


def shift_data(settings: Any, idmap: IdMap, old: IdMap | None = None) -> int:
    """Hand the mounted parts of data_path to the container's ids (idempotent; an install from before
    the id map is migrated). ssl/ itself and its ACME keys stay the host's: only the certificate and
    key move. Returns how many entries changed."""
    data = settings.main.data_path
    changed = 0
    for mount in layout.MOUNTS:
        path = os.path.join(data, mount.sub)
        if mount.sub == "ssl":
            for name in layout.SSL_FILES:
                changed += idmap_mod.shift_tree(os.path.join(path, name), idmap, old)
        else:
            changed += idmap_mod.shift_tree(path, idmap, old)
    from secumail.mail.runtime_bridge import hand_over

    hand_over(settings)  # `users` gets Dovecot's group
    if changed:
        log.info("handed %d entries of %s to the container's ids (%s)", changed, data, idmap.key)
    return changed


def ensure_image(settings: Any, progress: Progress = _quiet, idmap: IdMap | None = None) -> str:
    """The container's rootfs, from the configured provisioner (built or unpacked once), owned by the
    container's mapped ids."""
    rootfs = rootfs_path(settings)
    idmap = idmap or container_idmap()
    if os.path.exists(os.path.join(rootfs, "usr/sbin/postfix")):
        if idmap_mod.ensure_rootfs(rootfs, idmap):  # an image from before the id map
            progress(f"handed the image to the container's ids ({idmap.key})")
        return "present"
    c = settings.container
    os.makedirs(os.path.dirname(rootfs), exist_ok=True)
    if c.provisioner == "debian":
        from secumail.container import cache

        progress("building or unpacking the Debian mail image (first time: about a minute)")
        cache.debian_image(image_cache_dir(settings), rootfs, suite=c.suite, arch=c.arch or None,
                           mirror=c.mirror or None, progress=progress, idmap=idmap)  # fmt: skip
    elif c.provisioner == "tarball":
        from secumail.container.provision import tarball

        if not c.image:
            raise InputError("mailserver.container.image: a tarball path is required with provisioner 'tarball'")
        tarball.import_image(c.image, rootfs, progress=progress)
    else:
        from secumail.container.provision import alpine

        alpine.build(rootfs, arch=c.arch or None, progress=progress)
    idmap_mod.ensure_rootfs(rootfs, idmap)  # a no-op for the cached Debian image (already shifted)
    _install_hooks(rootfs, idmap)
    return "made"


def _install_hooks(rootfs: str, idmap: IdMap | None = None) -> None:
    from secumail.system.files import atomic_write

    idmap = idmap or idmap_mod.rootfs_map(rootfs)
    hooks = os.path.join(rootfs, "etc", "secumail")
    os.makedirs(hooks, exist_ok=True)
    idmap_mod.chown_root(hooks, idmap)
    for name in ("start", "stop"):
        path = os.path.join(hooks, name)
        atomic_write(path, _HOOK.format(data=CONTAINER_DATA, name=name), 0o755)
        idmap_mod.chown_root(path, idmap)


def install(settings: Any, progress: Progress = _quiet) -> dict[str, Any]:
    """Image, data layout, container, checked config, services up. Safe to run again: no mail or
    account is lost, the config is re-rendered and re-checked."""
    from secumail.mail import deploy, store

    ensure_layout(settings)
    with store.lock(settings.main.data_path):  # the primary domain and empty maps exist from the start
        store.save(settings.main.data_path, store.load(settings.main.data_path, settings.main.domain))
    image = ensure_image(settings, progress)
    _install_hooks(rootfs_path(settings))
    container = _define_and_start(settings, progress)
    progress("rendering and checking the mail config inside the container")
    result = deploy.deploy(settings, container)
    progress("waiting for the SMTP banner")
    seconds = wait_for_smtp(settings)
    _sync_firewall(settings)
    return {"result": "ok", "image": image, "container": container.state(), "generation": result["generation"],
            "smtp": f"{service_address(settings)}:{settings.ports.smtp}", "banner_seconds": round(seconds, 2)}


def ensure_spool(settings: Any, running: bool = False) -> list[str]:
    """data_path/spool exists (LXC refuses to start without a bind mount's source). An install from
    before the queue moved keeps its queue in the rootfs: while the container is stopped, its queue
    directories are moved over (ownership is fixed inside the container at start). Returns what moved."""
    import shutil

    spool = os.path.join(settings.main.data_path, SPOOL_DIR)
    os.makedirs(spool, mode=0o755, exist_ok=True)
    old = os.path.join(rootfs_path(settings), QUEUE_DIRECTORY.lstrip("/"))
    if running or os.path.ismount(old) or any(os.path.exists(os.path.join(spool, d)) for d in _QUEUE_SUBDIRS):
        return []
    moved = []
    for sub in _QUEUE_SUBDIRS:
        source = os.path.join(old, sub)
        if os.path.isdir(source) and os.listdir(source):
            shutil.move(source, os.path.join(spool, sub))
            moved.append(sub)
    if moved:
        log.info("moved the Postfix queue (%s) from the image into %s", ", ".join(moved), spool)
    return moved


def _define_and_start(settings: Any, progress: Progress) -> Container:
    from secumail.container import network

    if not idmap_mod.user_namespaces_available():
        raise ContainerError("this kernel has no user namespaces (CONFIG_USER_NS): the mail container runs "
                             "unprivileged and needs them (see docs/openwrt.md)")  # fmt: skip
    idmap = container_idmap()
    spec = spec_for(settings, idmap)
    if spec.network_mode == "bridge":
        network.ensure_bridge(spec.bridge, spec.bridge_address)
        if not _fw4():  # on OpenWrt the zone's policy is fw4's (secumail.mail.firewall.desired)
            from secumail.mail import firewall

            firewall.ensure_input_policy(spec.bridge)
    container = container_for(settings)
    running = container.exists() and container.running()
    ensure_spool(settings, running=running)
    ensure_layout(settings)  # mount sources (home/, ssl/acme/) of an install from before they were mounted
    rootfs = rootfs_path(settings)
    old = idmap_mod.rootfs_map(rootfs)
    if not running:
        if idmap_mod.ensure_rootfs(rootfs, idmap):
            progress(f"handed the image to the container's ids ({idmap.key})")
        _install_hooks(rootfs, idmap)
    shift_data(settings, idmap, old)
    write_resolv_conf(settings)
    container.define(spec)
    progress(f"starting container {spec.name}")
    container.start()
    return container


def nameservers(settings: Any) -> list[str]:
    """Resolvers the container uses: container.nameservers, else the router's dnsmasq on OpenWrt."""
    if settings.container.nameservers:
        return list(settings.container.nameservers)
    if settings.container.network_mode == "host":
        return []  # the host's own /etc/resolv.conf is not ours to rewrite
    if os.path.exists("/etc/openwrt_release"):
        return [str(settings.container.host_address.ip)]
    return []


def write_resolv_conf(settings: Any) -> None:
    """The image must not keep the build host's resolver: write the configured one (or none)."""
    from secumail.system.files import atomic_write

    if settings.container.network_mode == "host":
        return
    servers = nameservers(settings)
    lines = ["# written by secumail from mailserver.container.nameservers"]
    lines += [f"nameserver {server}" for server in servers] or ["# no resolver configured: DNS lookups fail fast"]
    path = os.path.join(rootfs_path(settings), "etc", "resolv.conf")
    if os.path.islink(path):
        os.unlink(path)
    atomic_write(path, "\n".join(lines) + "\n", 0o644)
    idmap_mod.chown_root(path, idmap_mod.rootfs_map(rootfs_path(settings)))


def _fw4() -> bool:
    return os.path.exists("/etc/config/firewall")


def _sync_firewall(settings: Any) -> None:
    """On OpenWrt, open/redirect the enabled ports through fw4 (UCI firewall)."""
    if not _fw4():
        return
    try:
        from secumail.mail import firewall

        firewall.sync(settings)
    except (ImportError, AttributeError):  # an older agent without the firewall module
        log.warning("firewall rules not updated: secumail.mail.firewall is unavailable")


# -- lifecycle ------------------------------------------------------------------------------------


def _installed(settings: Any) -> Container:
    container = container_for(settings)
    if not container.exists() or not os.path.isdir(rootfs_path(settings)):
        raise ContainerError(f"the mail container {settings.main.container!r} is not installed: run 'mailctl install'")
    return container


def start(settings: Any, progress: Progress = _quiet) -> dict[str, Any]:
    """Start the container; its init brings the live config generation up. Idempotent."""
    from secumail.mail import deploy

    _installed(settings)
    container = _define_and_start(settings, progress)
    if deploy.live_generation(settings.main.data_path) is None:
        deploy.deploy(settings, container)
    seconds = wait_for_smtp(settings)
    return {"result": "ok", "container": container.state(), "banner_seconds": round(seconds, 2)}


def stop(settings: Any) -> dict[str, Any]:
    container = container_for(settings)
    was_running = container.exists() and container.stop()
    if settings.container.network_mode == "bridge" and not _fw4():
        from secumail.mail import firewall

        firewall.remove_input_policy(settings.container.bridge)
    return {"result": "ok", "container": container.state() if container.exists() else "not installed",
            "stopped": bool(was_running)}  # fmt: skip


def restart(settings: Any, progress: Progress = _quiet) -> dict[str, Any]:
    stop(settings)
    return start(settings, progress)


def wait_for_smtp(settings: Any, timeout: float = 30.0) -> float:
    """Seconds until the SMTP banner ('220 ') is read from the host."""
    host, port = service_address(settings), settings.ports.smtp
    began = time.monotonic()
    last = ""
    while time.monotonic() - began < timeout:
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.settimeout(5)
                if conn.recv(512).startswith(b"220"):
                    return time.monotonic() - began
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise ContainerError(f"no SMTP banner from {host}:{port} within {timeout:.0f} s ({last or 'no answer'}); "
                         f"see 'mailctl logs'")  # fmt: skip


def running_container(settings: Any) -> Container:
    container = _installed(settings)
    if not container.running():
        raise ContainerError(f"the mail container {settings.main.container!r} is not running: run 'mailctl start'")
    return container


# -- logs -----------------------------------------------------------------------------------------

_LOG_FILES = ("var/log/mail.log", "var/log/dovecot.log")  # secumail.mail.logrotate.LOGS rotates these
_STAMP = re.compile(r"^([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d)")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                          "Dec"))}  # fmt: skip


def _tail(path: str, lines: int) -> list[str]:
    """The last `lines` lines of a file without reading all of it."""
    from secumail.mail.logrotate import tail

    return tail(path, lines)


def _order(line: str) -> tuple:
    match = _STAMP.match(line)
    if not match:
        return (99, "")
    stamp = match.group(1)
    return (_MONTHS.get(stamp[:3], 99), stamp[4:].replace(" ", "0", 1))


def logs(settings: Any, lines: int = 50) -> list[str]:
    """The last `lines` lines of the Postfix and Dovecot logs, merged in time order (read on the host side,
    so they are there even when the container is stopped)."""
    from secumail.mail.logrotate import tail_with_rotated

    _installed(settings)
    rootfs = rootfs_path(settings)
    merged = []
    for rel in _LOG_FILES:  # after a rotation the rest of the lines are in <log>.1
        merged.extend(tail_with_rotated(os.path.join(rootfs, rel), lines))
    merged.sort(key=_order)  # stable: lines of one file keep their order within a second
    return merged[-lines:]


def rotate_logs(settings: Any) -> list[str]:
    """Rotate the container's mail.log/dovecot.log once they reach mailserver.main.log_size_limit MiB
    (one old file kept; the services reopen theirs). Cheap when nothing is due (two stat calls): meant
    for every pass of the daemon's loop. Returns the rotated logs (rootfs-relative)."""
    from secumail.mail import logrotate

    rootfs = rootfs_path(settings)
    max_bytes = settings.main.log_size_limit * 1024 * 1024
    if not logrotate.due(rootfs, max_bytes):
        return []
    container = container_for(settings)
    executor = container if container.exists() and container.running() else None
    return logrotate.rotate(rootfs, max_bytes, executor)


# -- test message ---------------------------------------------------------------------------------


def send_test(settings: Any, address: str, wait: float = 20.0) -> dict[str, Any]:
    """Send a test message through the server (local submission inside the container), then follow the
    log until Postfix says what became of it."""
    from secumail.config.validate import email_address
    from secumail.mail.logrotate import tail_with_rotated

    try:
        recipient = email_address(address)
    except ValueError as exc:
        raise InputError(f"{address!r} {exc}") from None
    container = running_container(settings)
    token = uuid.uuid4().hex
    message_id = f"<secumail-test-{token}@{settings.main.fqdn}>"
    sender = settings.main.postmaster_address
    body = (f"From: {sender}\nTo: {recipient}\nSubject: secumail test message\nMessage-ID: {message_id}\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n\n"
            f"This is a test message sent by 'mailctl test' from {settings.main.fqdn}.\n")  # fmt: skip
    res = container.exec(["/usr/sbin/sendmail", "-i", "-f", sender, "--", recipient], input=body, timeout=30)
    if res.returncode != 0:
        raise SecumailError(f"sendmail refused the test message: {(res.stderr or res.stdout).strip()}")
    maillog = os.path.join(rootfs_path(settings), "var/log/mail.log")
    queue_id, status, detail = None, "queued", ""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        text = "\n".join(tail_with_rotated(maillog, 400))
        if queue_id is None:
            found = re.search(r"\b([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): message-id="
                              + re.escape(message_id), text)  # fmt: skip
            queue_id = found.group(1) if found else None
        if queue_id:
            done = re.search(rf"{queue_id}: to=<{re.escape(recipient)}>.*? status=(\w+) \((.*)\)", text)
            if done:
                status, detail = done.group(1), done.group(2)
                if status != "deferred":
                    break
        time.sleep(0.2)
    return {"recipient": recipient, "queue_id": queue_id, "status": status, "detail": detail,
            "message_id": message_id}  # fmt: skip


# -- queue ----------------------------------------------------------------------------------------

_QUEUE_ID = re.compile(r"^[0-9A-Za-z]{5,20}$")


def queue_list(settings: Any) -> list[dict[str, Any]]:
    container = running_container(settings)
    res = container.exec(["postqueue", "-j"], timeout=60)
    if res.returncode != 0:
        raise SecumailError(f"postqueue -j failed: {(res.stderr or res.stdout).strip()}")
    entries = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        entries.append({
            "queue_id": item.get("queue_id"),
            "queue": item.get("queue_name"),
            "arrival": item.get("arrival_time"),
            "size": item.get("message_size"),
            "sender": item.get("sender"),
            "recipients": [r.get("address") for r in item.get("recipients", [])],
            "reason": "; ".join(r.get("delay_reason", "") for r in item.get("recipients", []) if r.get("delay_reason")),
        })  # fmt: skip
    return entries


def queue_flush(settings: Any) -> dict[str, Any]:
    running_container(settings).exec(["postqueue", "-f"], check=True, timeout=60)
    return {"result": "ok", "message": "delivery of every queued message retried"}


def queue_delete(settings: Any, queue_id: str) -> dict[str, Any]:
    """Delete one message (queue_id) or, with 'ALL', every queued message."""
    if queue_id != "ALL" and not _QUEUE_ID.match(queue_id):
        raise InputError(f"{queue_id!r} is not a Postfix queue id")
    res = running_container(settings).exec(["postsuper", "-d", queue_id], timeout=60)
    text = (res.stderr or "") + (res.stdout or "")
    found = re.search(r"Deleted: (\d+) message", text)
    deleted = int(found.group(1)) if found else 0
    if res.returncode != 0:
        raise SecumailError(f"postsuper -d {queue_id} failed: {text.strip()}")
    if queue_id != "ALL" and deleted == 0:
        raise InputError(f"no queued message with id {queue_id}")
    return {"result": "ok", "deleted": deleted}


# -- image transfer -------------------------------------------------------------------------------


def image_export(settings: Any, tarball: str, progress: Progress = _quiet) -> dict[str, Any]:
    """Write the installed image (packages only: logs, queue and runtime state left out) to a tarball."""
    from secumail.container.provision.tarball import export_image

    rootfs = rootfs_path(settings)
    if not os.path.exists(os.path.join(rootfs, "usr/sbin/postfix")):
        raise ContainerError("no image installed to export: run 'mailctl install' first")
    # Exported with the ids as inside the container: the router importing it shifts to its own map.
    export_image(rootfs, os.path.abspath(tarball), progress=progress, exclude=STATE_PATHS,
                 unshift=idmap_mod.rootfs_map(rootfs))
    return {"result": "ok", "file": os.path.abspath(tarball), "bytes": os.path.getsize(tarball)}


def image_import(settings: Any, tarball: str, progress: Progress = _quiet) -> dict[str, Any]:
    """Install an image from a tarball (how a router without debootstrap gets one). The container must be
    stopped; data_path is untouched."""
    import shutil

    from secumail.container.provision.tarball import import_image

    if not os.path.isfile(tarball):
        raise InputError(f"{tarball}: no such file")
    container = container_for(settings)
    if container.exists() and container.running():
        raise ContainerError("stop the mail server first ('mailctl stop'): its image is in use")
    rootfs = rootfs_path(settings)
    staging = rootfs + ".importing"
    shutil.rmtree(staging, ignore_errors=True)
    import_image(os.path.abspath(tarball), staging, progress=progress)
    idmap = container_idmap()
    idmap_mod.shift_tree(staging, idmap)
    _install_hooks(staging, idmap)
    old = rootfs + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(rootfs):
        os.rename(rootfs, old)
    os.rename(staging, rootfs)
    idmap_mod.mark(rootfs, idmap)
    shutil.rmtree(old, ignore_errors=True)
    return {"result": "ok", "rootfs": rootfs}
