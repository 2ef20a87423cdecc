"""Pack files: many sealed objects, then padding, an encrypted header and its length.

Pack = Obj_1 || ... || Obj_n || Padding || EncryptedHeader || uint32le(len(EncryptedHeader))
(docs/backup-format.md 3.4). Written as a stream to a temp file; the storage
name is the SHA-256 of the finished file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass

from secumail.errors import BackupFormatError
from secumail.mesh.crypto import Cipher

PACK_TARGET = 8 << 20
# a pack of many tiny objects is closed early, so its header and index stay small
PACK_MAX_OBJECTS = 16384
PACK_ALIGN = 4096
HEADER_AD = b"secumail-pack-v1"
_ENTRY = struct.Struct("<BII32s")  # pack header: type, length, plain length, object id
ENTRY = struct.Struct("<BIII32s")  # index: type, offset, length, plain length, object id


@dataclass(frozen=True)
class Entry:
    oid: bytes
    obj_type: int
    offset: int
    length: int
    plain: int


class PackWriter:
    """Streams sealed objects into one temp file in `directory`.

    Per object only its header and index entries are kept (41 + 45 bytes in two
    bytearrays), not a Python object, so a pack costs a few hundred KiB at most.
    """

    def __init__(self, cipher: Cipher, directory: str) -> None:
        self.cipher = cipher
        self.directory = directory
        fd, self.tmp = tempfile.mkstemp(prefix=".tmp-pack-", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.size = 0
        self.count = 0
        self.header = bytearray()
        self.index = bytearray()

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.hash.update(data)
        self.size += len(data)

    def add(self, obj_type: int, oid: bytes, plaintext: bytes) -> None:
        nonce, sealed = self.cipher.seal_object_parts(obj_type, oid, plaintext)
        self.add_sealed(obj_type, oid, nonce, sealed, len(plaintext))

    def add_sealed(self, obj_type: int, oid: bytes, nonce: bytes, sealed: bytes, plain: int) -> None:
        length = len(nonce) + len(sealed)
        self.header += _ENTRY.pack(obj_type, length, plain, oid)
        self.index += ENTRY.pack(obj_type, self.size, length, plain, oid)
        self.count += 1
        self._write(nonce)  # two writes: no concatenated copy of a 1 MiB object
        self._write(sealed)

    @property
    def full(self) -> bool:
        return self.size >= PACK_TARGET or self.count >= PACK_MAX_OBJECTS

    def finish(self) -> tuple[str, str, bytes]:
        """Close the pack; returns (temp path, storage name, index entries (ENTRY each))."""
        sealed = self.cipher.seal(bytes(self.header), HEADER_AD)
        tail = len(sealed) + 4
        self._write(b"\0" * (-(self.size + tail) % PACK_ALIGN))
        self._write(sealed + struct.pack("<I", len(sealed)))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return self.tmp, self.hash.hexdigest(), bytes(self.index)

    def abort(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def read_header(cipher: Cipher, path: str, name: str) -> list[Entry]:
    """Entries of a pack from its encrypted tail (used by verify and index rebuild)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size < 4:
            raise BackupFormatError(f"pack {name} is truncated")
        handle.seek(size - 4)
        (length,) = struct.unpack("<I", handle.read(4))
        if length + 4 > size:
            raise BackupFormatError(f"pack {name} has a header length beyond its size")
        handle.seek(size - 4 - length)
        header = cipher.open(handle.read(length), HEADER_AD, f"header of pack {name}")
    if len(header) % _ENTRY.size:
        raise BackupFormatError(f"header of pack {name} has a bad length")
    entries, offset = [], 0
    for i in range(0, len(header), _ENTRY.size):
        obj_type, olen, plain, oid = _ENTRY.unpack_from(header, i)
        entries.append(Entry(oid, obj_type, offset, olen, plain))
        offset += olen
    return entries
