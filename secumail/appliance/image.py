"""The container's rootfs: provisioned once, hooked to the live config, exported and imported."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any, Callable

from secumail.appliance.spec import container_for, container_idmap, image_cache_dir, rootfs_path
from secumail.config.settings import Settings
from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.errors import ContainerError, InputError
from secumail.mail.layout import CONTAINER_DATA
from secumail.system.files import make_walkable_dirs

Progress = Callable[[str], None]

# Inside the image: the container's init runs these at boot/halt (provision.debian.install_init).
_HOOK = "#!/bin/sh\n# Installed by secumail: hand over to the live config generation.\n" \
        "[ -x {data}/config/live/container/{name} ] || exit 0\nexec {data}/config/live/container/{name}\n"  # fmt: skip

# Paths of a used rootfs that hold state or logs, never part of an exported image.
STATE_PATHS = ("var/log", "var/spool/postfix", "run", "tmp", "var/tmp", "var/lib/dovecot")


def quiet(_line: str) -> None:
    pass


def ensure_image(settings: Settings, progress: Progress = quiet, idmap: IdMap | None = None) -> str:
    """The container's rootfs, from the configured provisioner (built or unpacked once), owned by the
    container's mapped ids."""
    rootfs = rootfs_path(settings)
    idmap = idmap or container_idmap()
    c = settings.container
    if os.path.exists(os.path.join(rootfs, "usr/sbin/postfix")) and not _outdated(settings, rootfs, progress):
        if idmap_mod.ensure_rootfs(rootfs, idmap):  # an image from before the id map
            progress(f"handed the image to the container's ids ({idmap.key})")
        return "present"
    make_walkable_dirs(os.path.dirname(rootfs))  # lxc_path and the container's directory
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
    install_hooks(rootfs, idmap)
    return "made"


def _outdated(settings: Settings, rootfs: str, progress: Progress) -> bool:
    """An image built by an older agent that lacks packages this one configures is set aside (as
    rootfs.old) so a current one is made. It holds no mail, queue or config (all in data_path); the
    container is stopped for it if it runs."""
    if settings.container.provisioner != "debian":
        return False  # a tarball or Alpine image is the user's own choice
    from secumail.container.provision import debian

    missing = debian.missing_packages(rootfs)
    if not missing:
        return False
    progress(f"the image lacks {', '.join(missing)} (built by an older version): replacing it; "
             "mail, queue and config stay in data_path")  # fmt: skip
    container = container_for(settings)
    if container.exists() and container.running():
        progress(f"stopping container {settings.main.container} to replace its image")
        container.stop()
    aside = rootfs + ".old"
    if os.path.lexists(aside):
        shutil.rmtree(aside)
    os.rename(rootfs, aside)
    return True


def install_hooks(rootfs: str, idmap: IdMap | None = None) -> None:
    from secumail.system.files import atomic_write

    idmap = idmap or idmap_mod.rootfs_map(rootfs)
    hooks = os.path.join(rootfs, "etc", "secumail")
    os.makedirs(hooks, exist_ok=True)
    idmap_mod.chown_root(hooks, idmap)
    for name in ("start", "stop"):
        path = os.path.join(hooks, name)
        atomic_write(path, _HOOK.format(data=CONTAINER_DATA, name=name), 0o755)
        idmap_mod.chown_root(path, idmap)


def image_export(settings: Settings, tarball: str, progress: Progress = quiet) -> dict[str, Any]:
    """Write the installed image (packages only: logs, queue and runtime state left out) to a tarball."""
    from secumail.container.provision.tarball import export_image

    rootfs = rootfs_path(settings)
    if not os.path.exists(os.path.join(rootfs, "usr/sbin/postfix")):
        raise ContainerError("no image installed to export: run 'mailctl install' first")
    # Exported with the ids as inside the container: the router importing it shifts to its own map.
    export_image(rootfs, os.path.abspath(tarball), progress=progress, exclude=STATE_PATHS,
                 unshift=idmap_mod.rootfs_map(rootfs))
    return {"result": "ok", "file": os.path.abspath(tarball), "bytes": os.path.getsize(tarball)}


def image_import(settings: Settings, tarball: str, progress: Progress = quiet) -> dict[str, Any]:
    """Install an image from a tarball (how a router without debootstrap gets one). The container must be
    stopped; data_path is untouched."""
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
    install_hooks(staging, idmap)
    old = rootfs + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(rootfs):
        os.rename(rootfs, old)
    os.rename(staging, rootfs)
    idmap_mod.mark(rootfs, idmap)
    shutil.rmtree(old, ignore_errors=True)
    return {"result": "ok", "rootfs": rootfs}


def image_build(settings: Settings, tarball: str, arch: str = "", progress: Progress = quiet) -> dict[str, Any]:
    """Write a Debian mail image for `arch` (default container.arch, else this machine's) to `tarball`, for
    `mailctl image import` on a router: built with debootstrap (another CPU's under qemu-user-static) or
    taken from the image cache. Nothing is installed or started here."""
    from secumail.container import binfmt, cache
    from secumail.container.provision import tarball as tarballs
    from secumail.container.provision.debian import host_arch

    c = settings.container
    arch = arch or c.arch or host_arch()
    if arch not in binfmt.QEMU_CPU:
        raise InputError(f"unknown architecture {arch!r}: one of {', '.join(sorted(binfmt.QEMU_CPU))} (Debian's names)")
    target = os.path.abspath(tarball)
    if not target.endswith((tarballs.ZSTD_SUFFIX, tarballs.GZIP_SUFFIX)):
        raise InputError(f"{tarball}: the name must end in {tarballs.ZSTD_SUFFIX} or {tarballs.GZIP_SUFFIX}")
    if not os.path.isdir(os.path.dirname(target)):
        raise InputError(f"{os.path.dirname(target)}: no such directory")
    _key, cached = cache.debian_tarball(image_cache_dir(settings), suite=c.suite, arch=arch, mirror=c.mirror or None,
                                        progress=progress)  # fmt: skip
    if cached.endswith(tarballs.ZSTD_SUFFIX) == target.endswith(tarballs.ZSTD_SUFFIX):
        progress(f"copying {cached} to {target}")
        staging = target + ".part"
        try:
            shutil.copyfile(cached, staging)
            os.replace(staging, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(staging)
            raise ContainerError(f"writing {target} failed: {exc.strerror}") from None
    else:  # the other compression: through an unpacked copy
        scratch = tempfile.mkdtemp(prefix=".image-build-", dir=os.path.dirname(cached))
        try:
            rootfs = tarballs.import_image(cached, os.path.join(scratch, "rootfs"), progress=progress)
            tarballs.export_image(rootfs, target, progress=progress)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"result": "ok", "file": target, "arch": arch, "bytes": os.path.getsize(target)}
