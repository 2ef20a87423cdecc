"""Export a built image dir to a tarball and import it back.

This is how a router without debootstrap gets an image: build on a PC, copy
the tarball, import. Compression is zstd when the `zstd` program exists (much
faster to unpack on a small CPU), else gzip (Python's own).

Import is defensive: the archive is checked member by member before anything
is written — no absolute paths, no `..`, no member below a symlink from the
same archive, hard links only to earlier members, only regular files, dirs,
symlinks, hard links, device nodes and fifos. Ownership, modes (setuid/setgid
included: postdrop needs its setgid bit) and device nodes are restored as root.
Extended attributes (file capabilities) are not carried; the mail image needs none.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from typing import Callable

from secumail.container.idmap import IdMap
from secumail.errors import ContainerError, SecumailError
from secumail.system.proc import run, which

Progress = Callable[[str], None]

ZSTD_SUFFIX = ".tar.zst"
GZIP_SUFFIX = ".tar.gz"

_ALLOWED_TYPES = {
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
    tarfile.FIFOTYPE,
}


def preferred_suffix() -> str:
    """.tar.zst when zstd is installed, else .tar.gz."""
    return ZSTD_SUFFIX if which("zstd") else GZIP_SUFFIX


def export_image(
    image_dir: str, tarball: str, progress: Progress | None = None, exclude: Sequence[str] = (),
    unshift: IdMap | None = None,
) -> str:
    """Write `image_dir` to `tarball` (compression chosen by its suffix). Atomic: the
    tarball appears complete or not at all. Returns the tarball path.

    Below each `exclude` path (relative, e.g. "var/log") directories are kept, with
    their modes, and files are left out: state and logs of a used rootfs.
    `unshift`: the id map the image is shifted to; the archive gets the ids as seen inside."""
    say = progress or (lambda _line: None)
    if not os.path.isdir(image_dir):
        raise ContainerError(f"image dir {image_dir} does not exist")
    zstd = tarball.endswith(ZSTD_SUFFIX)
    if not zstd and not tarball.endswith(GZIP_SUFFIX):
        raise ContainerError(f"image tarball {tarball}: name must end in {ZSTD_SUFFIX} or {GZIP_SUFFIX}")
    if zstd and not which("zstd"):
        raise ContainerError("zstd not found: install zstd or export to a .tar.gz")
    directory = os.path.dirname(os.path.abspath(tarball))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-image-", dir=directory)
    os.close(fd)
    plain = tmp + ".tar"
    say(f"packing {image_dir} into {tarball}")
    try:
        if zstd:
            with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
                _add_tree(tar, image_dir, exclude, unshift)
            run(["zstd", "-q", "-f", "-T0", "-10", plain, "-o", tmp], timeout=3600)
        else:
            with tarfile.open(tmp, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                _add_tree(tar, image_dir, exclude, unshift)
        os.chmod(tmp, 0o644)
        os.replace(tmp, tarball)
    except SecumailError as exc:
        raise ContainerError(f"could not write image {tarball}: {exc}") from None
    except OSError as exc:
        raise ContainerError(f"could not write image {tarball}: {exc}") from None
    finally:
        for path in (tmp, plain):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return tarball


def _add_tree(tar: tarfile.TarFile, root: str, exclude: Sequence[str] = (), unshift: IdMap | None = None) -> None:
    """Add `root`'s content with archive names relative to it ("./etc/...")."""
    skipped = tuple(path.strip("/") for path in exclude)

    def excluded(rel: str) -> bool:
        return any(rel == path or rel.startswith(path + "/") for path in skipped)


    def numeric(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        info.uname = info.gname = ""  # ids only: the names differ between host and image
        if unshift is not None:
            if unshift.uid_base <= info.uid < unshift.uid_base + unshift.size:
                info.uid -= unshift.uid_base
            if unshift.gid_base <= info.gid < unshift.gid_base + unshift.size:
                info.gid -= unshift.gid_base
        return info

    tar.add(root, arcname=".", recursive=False, filter=numeric)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            arc = "./" + os.path.relpath(full, root)
            info = tar.gettarinfo(full, arcname=arc)
            if info is None:  # sockets: nothing to carry
                continue
            if not info.isdir() and excluded(os.path.dirname(arc[2:])):
                continue
            numeric(info)
            if info.isreg():
                with open(full, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
        # os.walk does not descend into symlinked dirs: good, they are added as links.


def check_members(members: list[tarfile.TarInfo]) -> None:
    """Raise ContainerError when any member could write outside the target dir."""
    seen: set[str] = set()
    symlinks: set[str] = set()
    for m in members:
        name = _clean(m.name)
        if name is None:
            raise ContainerError(f"unsafe path in image tarball: {m.name!r}")
        if m.type not in _ALLOWED_TYPES:
            raise ContainerError(f"unsupported member type in image tarball: {m.name!r}")
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in symlinks:
                raise ContainerError(f"image tarball member {m.name!r} lies below a symlink")
        if m.islnk():
            target = _clean(m.linkname)
            if target is None or target not in seen or target in symlinks:
                raise ContainerError(f"unsafe hard link in image tarball: {m.name!r} -> {m.linkname!r}")
        if name in seen:  # a second entry could replace a symlink and write through it
            raise ContainerError(f"duplicate member in image tarball: {m.name!r}")
        if m.issym():
            symlinks.add(name)
        seen.add(name)


def _clean(name: str) -> str | None:
    """Archive name normalised to 'a/b' ('.' for the root); None when unsafe."""
    if not name or name.startswith("/") or "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return posixpath.join(*parts) if parts else "."


def import_image(tarball: str, image_dir: str, progress: Progress | None = None) -> str:
    """Unpack `tarball` into `image_dir` (must not exist or be empty). Needs root to
    restore ownership and device nodes. On failure nothing is left behind."""
    say = progress or (lambda _line: None)
    if not os.path.isfile(tarball):
        raise ContainerError(f"image tarball {tarball} not found")
    if os.path.exists(image_dir) and os.listdir(image_dir):
        raise ContainerError(f"image dir {image_dir} is not empty: remove it or pick another")
    parent = os.path.dirname(os.path.abspath(image_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".import-", dir=parent)
    plain = None
    say(f"unpacking {tarball} into {image_dir}")
    try:
        source = tarball
        if tarball.endswith(ZSTD_SUFFIX) or _is_zstd(tarball):
            if not which("zstd"):
                raise ContainerError(f"{tarball} is zstd-compressed but zstd is not installed")
            fd, plain = tempfile.mkstemp(prefix=".import-", suffix=".tar", dir=parent)
            os.close(fd)
            run(["zstd", "-q", "-d", "-f", tarball, "-o", plain], timeout=3600)
            source = plain
        os.chmod(staging, 0o755)  # noqa: S103 (rootfs /); the archive's "." entry, if any, sets the final mode
        with tarfile.open(source, "r:*") as tar:
            members = tar.getmembers()
            check_members(members)
            kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
            tar.extractall(staging, members=members, numeric_owner=True, **kwargs)  # noqa: S202 (checked)
        if os.path.isdir(image_dir):
            os.rmdir(image_dir)
        os.replace(staging, image_dir)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ContainerError(f"could not import image {tarball}: {exc}") from None
    except ContainerError:
        raise
    except SecumailError as exc:
        raise ContainerError(f"could not import image {tarball}: {exc}") from None
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
        if plain:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(plain)
    return image_dir


def _is_zstd(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x28\xb5\x2f\xfd"
