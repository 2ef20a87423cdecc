"""Image cache: build an image once, keep it as a tarball, unpack it where needed.

Images are keyed by a hash of what went into them (provisioner, suite, arch,
package list, recipe version), so a changed package list builds a new image
and an unchanged one is reused — the test suite builds at most once per
machine. The cache dir is the caller's choice (tests: /var/cache/secumail-test
or $SECUMAIL_IMAGE_CACHE). A lock file per image serialises concurrent builders of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Callable

from secumail.container import idmap as idmap_mod
from secumail.container.idmap import IdMap
from secumail.container.provision import tarball
from secumail.errors import ContainerError
from secumail.system.files import file_lock

Progress = Callable[[str], None]
Builder = Callable[[str], None]  # build(image_dir): fill an empty dir with a rootfs


def image_key(provisioner: str, suite: str, arch: str, packages: Sequence[str], recipe: str = "") -> str:
    """Stable short hash of what defines an image (package order does not matter)."""
    blob = json.dumps(
        {"p": provisioner, "s": suite, "a": arch, "pkgs": sorted(set(packages)), "r": recipe},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ImageCache:
    """Tarballs named <key>.tar.zst / <key>.tar.gz in one directory."""

    def __init__(self, cache_dir: str) -> None:
        if not os.path.isabs(cache_dir):
            raise ContainerError(f"image cache dir {cache_dir!r} must be an absolute path")
        self.cache_dir = cache_dir

    def lookup(self, key: str) -> str | None:
        """Path of the cached tarball for `key`, None when not built yet."""
        for suffix in (tarball.ZSTD_SUFFIX, tarball.GZIP_SUFFIX):
            path = os.path.join(self.cache_dir, key + suffix)
            if os.path.isfile(path):
                return path
        return None

    def ensure(self, key: str, build: Builder, progress: Progress | None = None) -> str:
        """The tarball for `key`, building and packing it first when missing."""
        say = progress or (lambda _line: None)
        os.makedirs(self.cache_dir, mode=0o755, exist_ok=True)
        found = self.lookup(key)
        if found:
            return found
        # One lock per image: an arm64 build under emulation (~10 min) must not hold up the host's image.
        with file_lock(os.path.join(self.cache_dir, f".lock-{key}")):
            found = self.lookup(key)  # another process may have built it meanwhile
            if found:
                return found
            work = tempfile.mkdtemp(prefix=f".build-{key}-", dir=self.cache_dir)
            image_dir = os.path.join(work, "rootfs")
            try:
                say(f"image {key} not cached in {self.cache_dir}: building it")
                t0 = time.monotonic()
                build(image_dir)
                say(f"image {key} built in {time.monotonic() - t0:.0f} s")
                path = os.path.join(self.cache_dir, key + tarball.preferred_suffix())
                tarball.export_image(image_dir, path, progress=say)
                say(f"image {key} cached: {path} ({os.path.getsize(path) / 1e6:.0f} MB)")
                return path
            finally:
                _remove_build_dir(work)

    def materialize(self, key: str, build: Builder, image_dir: str, progress: Progress | None = None) -> str:
        """Unpack the image for `key` (built if needed) into `image_dir`; returns it."""
        path = self.ensure(key, build, progress)
        return tarball.import_image(path, image_dir, progress=progress)


def _remove_build_dir(work: str) -> None:
    """Remove a build dir, but never through a mount left inside it (e.g. /proc)."""
    real = os.path.realpath(work).rstrip("/") + "/"
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.split()[4].startswith(real):
                return  # leave it for a human rather than recurse into a mount
    shutil.rmtree(work, ignore_errors=True)


def debian_tarball(
    cache_dir: str,
    *,
    suite: str | None = None,
    arch: str | None = None,
    packages: Sequence[str] | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
) -> tuple[str, str]:
    """(key, path) of the cached tarball of a Debian mail image, built with debootstrap first when missing.
    Its files are owned by the ids as seen inside the container: what `mailctl image import` takes."""
    from secumail.container.provision import debian

    suite = suite or debian.SUITE
    arch = arch or debian.host_arch()
    pkgs = tuple(packages or debian.PACKAGES)
    key = image_key("debian", suite, arch, pkgs, debian.recipe_id())

    def build(target: str) -> None:
        debian.build(target, suite=suite, arch=arch, mirror=mirror, packages=pkgs, progress=progress)

    return key, ImageCache(cache_dir).ensure(key, build, progress)


def debian_image(
    cache_dir: str,
    image_dir: str,
    *,
    suite: str | None = None,
    arch: str | None = None,
    packages: Sequence[str] | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    idmap: IdMap | None = None,
) -> str:
    """A Debian mail image in `image_dir`: from the cache, or built with debootstrap
    and cached first. Returns image_dir.

    With `idmap` the image comes owned by the mapped ids (for an unprivileged
    container): that variant is cached too, under the image key plus the map,
    so the rootfs is shifted once per machine, not at every unpack."""
    key, plain = debian_tarball(cache_dir, suite=suite, arch=arch, packages=packages, mirror=mirror, progress=progress)
    images = ImageCache(cache_dir)
    if idmap is None:
        return tarball.import_image(plain, image_dir, progress=progress)

    def shifted(target: str) -> None:
        tarball.import_image(plain, target, progress=progress)
        idmap_mod.shift_tree(target, idmap)

    images.materialize(f"{key}-{idmap.key}", shifted, image_dir, progress)
    idmap_mod.mark(image_dir, idmap)
    return image_dir
