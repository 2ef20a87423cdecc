"""Build an Alpine rootfs image: official minirootfs + apk (for routers with internet).

UNTESTED: this machine has no internet (only Debian/PyPI package mirrors), so
this provisioner has never run here. It is written to the documented Alpine
layout (releases/<arch>/alpine-minirootfs-<version>-<arch>.tar.gz with a
.sha256 next to it, `apk add` in a chroot) and reuses the tested safe tarball
import; treat it as a starting point and test it on a connected router first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from typing import Callable

from secumail.container.provision import debian, tarball
from secumail.errors import ContainerError, SecumailError
from secumail.system.proc import run

Progress = Callable[[str], None]

MIRROR = "https://dl-cdn.alpinelinux.org/alpine"
BRANCH = "v3.20"
VERSION = "3.20.3"

PACKAGES: tuple[str, ...] = (
    "postfix",
    "dovecot",
    "dovecot-lmtpd",
    "dovecot-pop3d",
    "dovecot-pigeonhole-plugin",
    "opendkim",
    "opendkim-utils",
    "ca-certificates",
    "tini",
)

_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "armv7l": "armv7", "armv6l": "armhf", "i686": "x86"}


def minirootfs_url(arch: str, mirror: str = MIRROR, branch: str = BRANCH, version: str = VERSION) -> str:
    return f"{mirror}/{branch}/releases/{arch}/alpine-minirootfs-{version}-{arch}.tar.gz"


def build(
    target: str,
    *,
    arch: str | None = None,
    mirror: str = MIRROR,
    branch: str = BRANCH,
    version: str = VERSION,
    packages: Sequence[str] = PACKAGES,
    progress: Progress | None = None,
) -> None:
    """Fetch and verify the minirootfs, unpack it safely into `target`, apk add `packages`."""
    say = progress or (lambda _line: None)
    if os.geteuid() != 0:
        raise ContainerError("building an Alpine image needs root")
    arch = arch or _ARCH.get(os.uname().machine, os.uname().machine)
    url = minirootfs_url(arch, mirror, branch, version)
    workdir = tempfile.mkdtemp(prefix="secumail-alpine-")
    try:
        archive = os.path.join(workdir, "minirootfs.tar.gz")
        say(f"downloading {url}")
        _download(url, archive)
        expected = _fetch_text(url + ".sha256").split()[0]
        with open(archive, "rb") as handle:
            actual = hashlib.sha256(handle.read()).hexdigest()
        if actual != expected:
            raise ContainerError(f"{url}: sha256 mismatch ({actual} != {expected})")
        tarball.import_image(archive, target, progress=say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(target, "etc/apk/repositories"), "w", encoding="utf-8") as handle:
        handle.write(f"{mirror}/{branch}/main\n{mirror}/{branch}/community\n")
    resolv = os.path.join(target, "etc/resolv.conf")
    shutil.copyfile("/etc/resolv.conf", resolv)
    say(f"apk add {' '.join(packages)}")
    try:
        run(["chroot", target, "/sbin/apk", "add", "--no-cache", *packages], timeout=3600)
    except SecumailError as exc:
        raise ContainerError(f"apk add in the Alpine image failed: {exc}") from None
    finally:
        os.unlink(resolv)
    # tini lives in /sbin on Alpine; the init script expects /usr/bin/tini.
    if not os.path.exists(os.path.join(target, "usr/bin/tini")) and os.path.exists(
        os.path.join(target, "sbin/tini")
    ):
        os.symlink("/sbin/tini", os.path.join(target, "usr/bin/tini"))
    debian.install_init(target)
    say("alpine image ready")


def _download(url: str, dest: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise ContainerError(f"refusing to download {url!r}: only http(s)")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:  # noqa: S310
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        raise ContainerError(f"could not download {url}: {exc}") from None


def _fetch_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
            return resp.read().decode()
    except OSError as exc:
        raise ContainerError(f"could not download {url}: {exc}") from None
