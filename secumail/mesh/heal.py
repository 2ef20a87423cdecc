"""Heal a fetched copy: fetch damaged or missing files again from other copies.

Every healable file is storage-named (its name is the SHA-256 of its bytes), so
any copy will do — another peer's, or this node's own repository — and the
result is checked against the name before it replaces anything. A damaged
index or snapshot that no copy has intact is dropped from the fetched copy
(opening it would fail); a damaged pack stays, since the objects in it that the
damage missed still authenticate, and restore names the files it cannot read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from typing import Any, Protocol

from secumail.mesh.scrub import sha256_file

log = logging.getLogger(__name__)
_REL = re.compile(r"^(data/[0-9a-f]{2}|index|snapshots)/([0-9a-f]{64})$")
MAX_FILE = 64 << 20  # a pack is ~8 MiB plus one object of at most 4 MiB; nothing healable is bigger


class Source(Protocol):
    label: str

    def fetch(self, rel: str, dest: str) -> bool: ...

    def close(self) -> None: ...


class LocalSource:
    """A repository on this node (our own)."""

    def __init__(self, path: str, label: str) -> None:
        self.path = path
        self.label = label

    def fetch(self, rel: str, dest: str) -> bool:
        try:
            shutil.copyfile(os.path.join(self.path, rel), dest, follow_symlinks=False)
        except OSError:
            return False
        return True

    def close(self) -> None:
        pass


class PeerSource:
    """Another peer's copy (its /stored), connected on first use with the host key pinned to `node_id`."""

    def __init__(self, node_id: str, host: str, port: int, key: Any) -> None:
        self.node_id, self.host, self.port, self.key = node_id, host, port, key
        self.label = f"peer {node_id}"
        self._sftp: Any = None
        self._dead = False

    def _session(self) -> Any:
        from secumail.mesh.transport import PeerError, connect

        if self._sftp is None and not self._dead:
            try:
                self._sftp = connect(self.host, self.port, self.key, expected=self.node_id)
            except PeerError as exc:
                log.warning("cannot heal from %s: %s", self.label, exc)
                self._dead = True
        return self._sftp

    def fetch(self, rel: str, dest: str) -> bool:
        sftp = self._session()
        if sftp is None:
            return False
        try:
            size = sftp.stat(f"/stored/{rel}").st_size or 0
            if size > MAX_FILE:
                return False
            done = 0
            with sftp.open(f"/stored/{rel}", "rb") as remote, open(dest, "wb") as local:
                remote.prefetch(size)
                while done < size:
                    block = remote.read(min(1 << 20, size - done))
                    if not block:
                        return False
                    local.write(block)
                    done += len(block)
        except (OSError, EOFError):
            return False
        return True

    def close(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.get_channel().get_transport().close()
            self._sftp = None


def heal_copy(repo_path: str, rels: list[str], sources: list[Source]) -> tuple[dict[str, str], list[str]]:
    """Replace each damaged or missing `rel` with an intact one; ({rel: source}, rels still bad)."""
    healed: dict[str, str] = {}
    left: list[str] = []
    for rel in rels:
        match = _REL.match(rel)
        if match is None:
            left.append(rel)
            continue
        dest = os.path.join(repo_path, rel)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        tmp = os.path.join(os.path.dirname(dest), ".tmp-heal-" + match.group(2))
        for source in sources:
            try:
                ok = source.fetch(rel, tmp) and sha256_file(tmp) == match.group(2)
            except OSError:
                ok = False
            if ok:
                os.replace(tmp, dest)
                healed[rel] = source.label
                log.info("%s healed from %s", rel, source.label)
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        else:
            left.append(rel)
            if not rel.startswith("data/"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(dest)  # a damaged index or snapshot cannot be opened at all
    return healed, left
