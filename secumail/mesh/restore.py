"""Restore a snapshot byte for byte (contents, modes, mtimes; owners when root)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from typing import Any

from secumail.errors import BackupFormatError, InputError, SecumailError
from secumail.mesh.repo import Repository
from secumail.mesh.restore_files import FileWriter
from secumail.mesh.snapshot import iter_tree


def _safe(target: str, rel: str) -> str:
    if rel.startswith("/") or ".." in rel.split("/") or not rel:
        raise BackupFormatError(f"snapshot holds an unsafe path {rel!r}; refusing to restore it")
    return os.path.join(target, rel)


class _Parents:
    """Directories this restore checked: real directories, not symlinks, under its root.

    A snapshot may hold `a -> /etc` and then `a/passwd`; writing the second through
    the first would write /etc/passwd. Every parent of an entry is checked with
    lstat (and remembered, so a maildir costs one check per directory), and a
    symlink restored over a path forgets it and everything below.
    """

    def __init__(self) -> None:
        self.checked: set[str] = set()

    def ensure(self, root: str, rel: str) -> None:
        current = root
        for part in rel.split("/")[:-1]:
            current = os.path.join(current, part)
            if current in self.checked:
                continue
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o700)  # its own entry (earlier in walk order) sets the real mode
            else:
                if stat.S_ISLNK(st.st_mode):
                    raise BackupFormatError(
                        f"snapshot holds {rel} below the symlink {os.path.relpath(current, root)}; "
                        "refusing to write through it"
                    )
                if not stat.S_ISDIR(st.st_mode):
                    raise BackupFormatError(f"snapshot holds {rel} below a non-directory; refusing to restore it")
            self.checked.add(current)

    def replaced(self, path: str) -> None:
        self.checked = {p for p in self.checked if p != path and not p.startswith(path + "/")}


def _entries(repo: Repository, tree: list[str], lost: list[str] | None) -> Any:
    """Tree entries in order; a tree object that cannot be read is named in `lost` (when given)."""
    for hex_id in tree:
        try:
            data = repo.load_object(bytes.fromhex(hex_id))
        except BackupFormatError as exc:
            if lost is None:
                raise
            lost.append(f"the entries listed in tree object {hex_id[:16]} ({exc})")
            continue
        for line in data.splitlines():
            if line:
                yield json.loads(line)


def restore(
    repo: Repository,
    snapshot: str | None,
    target: str,
    uci_dest: str | None = None,
    *,
    tolerate_loss: bool = False,
) -> dict[str, Any]:
    """Restore into `target`; entries under uci/ go to `uci_dest` when given.

    With tolerate_loss, a file whose objects cannot be read (damaged on every copy
    we had) is left out and named in the result's "lost" list instead of stopping
    the restore at the first bad object.
    """
    if os.path.exists(target) and not os.path.isdir(target):
        raise InputError(f"restore target {target} exists and is not a directory")
    repo.sync_cache()
    name, body = repo.find_snapshot(snapshot)
    as_root = os.geteuid() == 0
    dirs: list[tuple[str, dict[str, Any]]] = []
    files = size = 0
    os.makedirs(target, exist_ok=True)
    parents = _Parents()
    lost: list[str] = []
    writer = FileWriter(repo, as_root=as_root)
    sizes: dict[str, int] = {}

    def collect(everything: bool = False) -> None:
        """Files the workers finished, in tree order: counted, or lost, or the restore stops."""
        nonlocal files, size
        for rel, exc in writer.done(everything):
            bytes_ = sizes.pop(rel, 0)
            if exc is None:
                files += 1
                size += bytes_
            elif isinstance(exc, BackupFormatError):
                if not tolerate_loss:
                    raise BackupFormatError(f"{exc}; refusing to restore {rel}") from None
                lost.append(f"{rel} ({exc})")
            else:
                raise exc

    try:
        for entry in _entries(repo, body["tree"], lost if tolerate_loss else None):
            rel = entry["p"]
            if uci_dest is not None and (rel == "uci" or rel.startswith("uci/")):
                if rel == "uci":
                    continue
                root, rel_in_root = uci_dest, _safe("", rel[4:]).lstrip("/")
                os.makedirs(uci_dest, exist_ok=True)
            else:
                root, rel_in_root = target, rel
            path = _safe(root, rel_in_root)
            parents.ensure(root, rel_in_root)
            kind = entry["t"]
            if kind == "d":
                if os.path.islink(path):
                    os.unlink(path)  # a directory in the snapshot: never chmod through a link
                os.makedirs(path, exist_ok=True)
                parents.checked.add(path)
                dirs.append((path, entry))
                continue
            if kind == "l":
                collect(everything=True)  # no file still being written where the link goes
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                parents.replaced(path)
                os.symlink(entry["l"], path)
                if as_root:
                    os.lchown(path, entry["u"], entry["g"])
                continue
            try:
                locations = writer.locate(entry["o"])
            except BackupFormatError as exc:
                if not tolerate_loss:
                    raise BackupFormatError(f"{exc}; refusing to restore {rel}") from None
                lost.append(f"{rel} ({exc})")
                continue
            sizes[rel] = sizes.get(rel, 0) + entry.get("s", 0)
            writer.submit(rel, path, entry, locations)
            collect()
        collect(everything=True)
    finally:
        writer.close()
    for path, entry in reversed(dirs):  # deepest first, after their contents
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise BackupFormatError(f"{path} was replaced by a non-directory during restore; refusing to chmod it")
        os.chmod(path, entry["m"])
        if as_root:
            os.chown(path, entry["u"], entry["g"])
        os.utime(path, ns=(entry["mt"], entry["mt"]))
    result = {"snapshot": name, "time": body["time"], "target": target, "files": files, "bytes": size}
    if tolerate_loss:
        result["lost"] = lost
    return result


def verify(repo: Repository) -> dict[str, Any]:
    """Read and authenticate everything; name each broken pack, object, index or snapshot."""
    import hashlib

    from secumail.mesh.pack import read_header

    problems: list[str] = []
    with repo.lock(shared=True):
        try:
            repo.sync_cache()
        except BackupFormatError as exc:
            problems.append(str(exc))
        packs = repo.list("data")
        objects = 0
        for name in packs:
            path = repo.file_path("data", name)
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            changed = digest.hexdigest() != name
            try:
                entries = read_header(repo.cipher, path, name)
            except BackupFormatError as exc:
                problems.append(str(exc))
                continue
            with open(path, "rb") as handle:
                for e in entries:
                    handle.seek(e.offset)
                    try:
                        repo.cipher.open_object(e.obj_type, e.oid, handle.read(e.length))
                        objects += 1
                    except BackupFormatError as exc:
                        problems.append(f"{exc} in pack {name}")
            if changed:  # after the objects, so the first line names the broken object
                problems.append(f"pack {name}: content does not match its name (changed on disk)")
        missing = repo.cache.packs() - set(packs)
        snaps = 0
        for name in repo.list("snapshots"):
            try:
                from secumail.mesh.snapshot import decode

                body = decode(repo.cipher, repo.read("snapshots", name), name)
                for entry in iter_tree(repo.load_object, body["tree"]):
                    for hex_id in entry.get("o", ()):
                        where = repo.cache.lookup(bytes.fromhex(hex_id))
                        if where is None:
                            problems.append(
                                f"snapshot {name}: object {hex_id} of {entry['p']} is not indexed"
                            )
                        elif where[0] in missing:  # named with its file, before the pack line below
                            problems.append(
                                f"snapshot {name}: object {hex_id} of {entry['p']} is in pack {where[0]}, "
                                "which is missing"
                            )
                snaps += 1
            except BackupFormatError as exc:
                problems.append(f"snapshot {name}: {exc}")
        problems += [f"pack {gone} is indexed but missing" for gone in sorted(missing)]
        problems += _head_problems(repo)
    if problems:
        head = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more problems)"
        raise VerifyFailed(head, problems)
    return {"result": "ok", "packs": len(packs), "objects": objects, "snapshots": snaps}


def _head_problems(repo: Repository) -> list[str]:
    """A repository with head records must have a valid one, naming a snapshot it holds."""
    from secumail.mesh import heads

    names = repo.list("heads")
    if not names:
        return []  # made before head records existed; the next backup writes one
    latest = heads.latest(repo.path, repo.config.get("node_id", ""))
    if latest is None:
        return [f"no valid head record among {len(names)} in heads/ (damaged or not signed by this node)"]
    if latest["snapshot"] not in repo.list("snapshots"):
        return [f"head {latest['seq']} names snapshot {latest['snapshot']}, which is missing"]
    return []


class VerifyFailed(SecumailError):
    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(f"verify failed: {message}")
        self.problems = problems
