"""A libuci context: where configs and deltas live, and load/save/commit/revert.

This is libuci's file backend (file.c, delta.c, libuci.c):

* ``load`` parses ``confdir/NAME`` (or ``conf2dir/NAME`` if that exists) and
  replays the delta files found under every delta path.
* ``save`` appends the unsaved changes to ``savedir/NAME`` (flock'ed).
* ``commit`` locks the config file, saves, re-reads the file and the deltas under
  the lock, writes ``.NAME.uci-XXXXXX`` in the same directory, fsyncs it and
  renames it over the file, then truncates the delta file (to 0 bytes, as
  libuci does).  A delta with no applicable record leaves the file untouched.

Unlike libuci, the delta file stays locked from reading to truncation and the
config lock is held until the rename, so concurrent commits never lose updates.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import Callable

from . import delta as D
from . import errors as E
from . import ops
from .model import Package, to_bytes, validate_package
from .parser import import_package
from .writer import export_bytes

# libuci's compiled-in defaults.  libuci always reads deltas from the default
# savedir too, even when another one is set (tests point this elsewhere).
DEFAULT_CONFDIR = "/etc/config"
DEFAULT_SAVEDIR = "/tmp/.uci"  # noqa: S108 (libuci's compiled-in savedir)
DEFAULT_CONF2DIR = "/var/run/uci"
FILEMODE = 0o600
DIRMODE = 0o700


def _read_shared(path: str) -> bytes | None:
    """A regular file's bytes read under a shared flock, None if it is not there."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _read_fd(fd)
    finally:
        os.close(fd)


def _read_fd(fd: int) -> bytes:
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class UciContext:
    """Configuration and delta directories plus the packages loaded from them."""

    def __init__(self, confdir: str | None = None, savedir: str | None = None) -> None:
        self.confdir = confdir or DEFAULT_CONFDIR
        self.conf2dir: str | None = DEFAULT_CONF2DIR
        self.savedir = DEFAULT_SAVEDIR
        self.delta_path = [DEFAULT_SAVEDIR]
        self.strict = True
        self.export_name = False
        self.keep_saved_delta = True
        self.on_parse_error: Callable[[E.UciException], None] | None = None
        self.root: list = []
        # What libuci's lingering parse context would say after a failed import.
        self.pctx_info: E.UciException | None = None
        if savedir:
            self.set_savedir(savedir)

    # --- directories -----------------------------------------------------------
    def set_savedir(self, directory: str) -> None:
        if directory in self.delta_path:
            self.delta_path.remove(directory)
        self.delta_path.append(directory)
        self.savedir = directory

    def add_delta_path(self, directory: str) -> None:
        if directory in self.delta_path:
            raise E.uci_error(E.ERR_DUPLICATE)
        self.delta_path.insert(len(self.delta_path) - 1, directory)

    def set_conf2dir(self, directory: str | None) -> None:
        self.conf2dir = directory or None

    def config_path(self, name: str, conf2: bool = False) -> str | None:
        if not validate_package(name):
            raise E.uci_error(E.ERR_INVAL)
        directory = self.conf2dir if conf2 else self.confdir
        if not directory:
            return None
        return f"{directory}/{name}"

    def _create_mode(self, path: str) -> int:
        """libuci creates files with the mode of confdir/<basename>, else 0600."""
        try:
            return stat.S_IMODE(os.stat(os.path.join(self.confdir, os.path.basename(path))).st_mode)
        except OSError:
            return FILEMODE

    def list_configs(self) -> list:
        """Config names in confdir, sorted bytewise (libuci's glob ``*``)."""
        try:
            names = os.listdir(self.confdir)
        except OSError as exc:
            raise E.uci_error(E.ERR_NOTFOUND) from exc
        names = [n for n in names if not n.startswith(".")]
        if not names:
            raise E.uci_error(E.ERR_NOTFOUND)
        result = []
        for name in sorted(names, key=to_bytes):
            if "." in name or os.path.isdir(os.path.join(self.confdir, name)):
                continue
            if validate_package(name):
                result.append(name)
        return result

    # --- packages --------------------------------------------------------------
    def find_loaded(self, name: str) -> Package | None:
        for p in self.root:
            if p.name == name:
                return p
        return None

    def unload(self, p: Package) -> None:
        if p in self.root:
            self.root.remove(p)

    def _import(self, data: bytes, name: str, path: str) -> Package:
        self.pctx_info = None
        try:
            return import_package(io.BytesIO(data), name, path=path, strict=self.strict,
                                  on_error=self.on_parse_error)
        except E.UciException as exc:
            if exc.code == E.ERR_PARSE:
                self.pctx_info = exc
            raise

    def load(self, name: str) -> Package:
        """uci_load: parse the config and replay its deltas."""
        if name.startswith(".") and not name.startswith("./"):
            raise E.uci_error(E.ERR_NOTFOUND)
        if name.startswith(("/", "./")):
            filename: str | None = name
            name = name.rsplit("/", 1)[1]
            in_confdir = conf2 = False
        else:
            conf2 = True
            filename = self.config_path(name, True)
            if not filename or not os.path.exists(filename):
                conf2 = False
                filename = self.config_path(name, False)
            in_confdir = True
        if filename is None:
            raise E.uci_error(E.ERR_INVAL)
        try:
            if not stat.S_ISREG(os.stat(filename).st_mode):
                raise E.uci_error(E.ERR_NOTFOUND)
        except OSError as exc:
            raise E.uci_error(E.ERR_NOTFOUND) from exc
        data = _read_shared(filename)
        if data is None:
            raise E.uci_error(E.ERR_IO)
        p = self._import(data, name, filename)
        if self.find_loaded(name) is not None:
            raise E.uci_error(E.ERR_DUPLICATE)
        p.uses_conf2 = conf2
        p.path = filename
        p.has_delta = in_confdir
        self.root.append(p)
        self.load_delta(p, flush=False)
        return p

    def load_delta(self, p: Package, flush: bool) -> int:
        """Replay every delta file of ``p``; with ``flush`` truncate the savedir one."""
        if not p.has_delta:
            return 0
        savefile = os.path.join(self.savedir, p.name)
        lock_fd: int | None = None
        if flush:
            try:
                lock_fd = os.open(savefile, os.O_RDWR)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            except OSError:
                if lock_fd is not None:
                    os.close(lock_fd)
                lock_fd = None
        try:
            changes = 0
            saved_real = os.path.realpath(savefile)
            for directory in self.delta_path:
                filename = os.path.join(directory, p.name)
                if lock_fd is not None and os.path.realpath(filename) == saved_real:
                    data: bytes | None = _read_fd(lock_fd)
                else:
                    data = _read_shared(filename)
                if data is not None:
                    changes += D.replay(self, data, p, self.keep_saved_delta)
            if lock_fd is not None and changes > 0:
                os.ftruncate(lock_fd, 0)
            return changes
        finally:
            if lock_fd is not None:
                os.close(lock_fd)

    def save(self, p: Package) -> Package:
        """uci_save: append unsaved changes to the delta file in savedir."""
        if not p.has_delta:
            return self.commit(p, False)
        if not p.delta:
            return p
        try:
            st = os.stat(self.savedir)
        except OSError:
            try:
                mode = stat.S_IMODE(os.stat(self.confdir).st_mode)
            except OSError:
                mode = DIRMODE
            with contextlib.suppress(OSError):
                os.mkdir(self.savedir, mode)
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise E.uci_error(E.ERR_IO)
        filename = os.path.join(self.savedir, p.name)
        try:
            fd = os.open(filename, os.O_RDWR | os.O_CREAT, self._create_mode(filename))
        except OSError as exc:
            raise E.uci_error(E.ERR_IO) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.lseek(fd, 0, os.SEEK_END)
            _write_all(fd, D.encode_deltas(p.name, p.delta))
        finally:
            os.close(fd)
        p.delta.clear()
        return p

    @contextlib.contextmanager
    def _locked_config(self, path: str) -> Iterator[int]:
        """An fd of ``path`` (created if missing) under LOCK_EX, still linked at ``path``."""
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, self._create_mode(path))
            except OSError as exc:
                raise E.uci_error(E.ERR_IO) from exc
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                st_path = os.stat(path)
            except OSError:
                os.close(fd)
                continue
            st_fd = os.fstat(fd)
            if (st_path.st_dev, st_path.st_ino) == (st_fd.st_dev, st_fd.st_ino):
                break
            os.close(fd)  # replaced by another commit meanwhile: lock the new file
        try:
            yield fd
        finally:
            os.close(fd)

    def commit(self, p: Package, overwrite: bool = False) -> Package:
        """uci_commit: apply the deltas to the config file; returns the reloaded package."""
        if not p.path and overwrite:
            p.path = self.config_path(p.name, p.uses_conf2)
        if not p.path:
            raise E.uci_error(E.ERR_INVAL)
        confdir = (self.conf2dir if p.uses_conf2 else self.confdir) or self.confdir
        with self._locked_config(p.path) as fd:
            if p.has_delta:
                if not overwrite:
                    name, path, conf2 = p.name, p.path, p.uses_conf2
                    if p.delta:
                        self.save(p)
                    self.unload(p)
                    p = self._import(_read_fd(fd), name, path)
                    p.path, p.has_delta, p.uses_conf2 = path, True, conf2
                    self.root.append(p)
                if not self.load_delta(p, flush=True):
                    return p
            self._replace_file(p, confdir)
        return p

    def _replace_file(self, p: Package, confdir: str) -> None:
        if p.path is None:
            raise E.uci_error(E.ERR_INVAL)
        target = os.path.realpath(p.path)
        fd, tmpname = tempfile.mkstemp(prefix=f".{p.name}.uci-", dir=confdir)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _write_all(fd, export_bytes(p, header=False, export_name=self.export_name))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmpname, stat.S_IMODE(os.stat(target).st_mode))
            os.rename(tmpname, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmpname)
            raise E.uci_error(E.ERR_IO) from exc
        with contextlib.suppress(OSError):
            dirfd = os.open(os.path.dirname(target) or ".", os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)

    def revert(self, ptr: ops.Ptr) -> ops.Ptr:
        """uci_revert: drop saved changes to a config, section or option."""
        ops.expand_ptr(self, ptr, False)
        p = ptr.p
        if p is None:
            raise E.uci_error(E.ERR_INVAL)
        if not p.has_delta:
            raise E.uci_error(E.ERR_INVAL)
        self.save(p)
        name, section, option = p.name, ptr.section, ptr.option
        self.unload(p)
        self._filter_delta(name, section, option)
        ptr.p = self.load(name)
        ptr.s = ptr.o = None
        return ptr

    def _filter_delta(self, name: str, section: str | None, option: str | None) -> None:
        filename = os.path.join(self.savedir, name)
        try:
            fd = os.open(filename, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            new = D.filter_records(_read_fd(fd), name, section, option)
            if new is None:
                return
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, new)
        finally:
            os.close(fd)
