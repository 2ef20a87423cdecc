"""Primitives of the repository format (docs/backup-format.md, sections 3-5).

Keys derived from the master key, keyed object ids, compress-then-seal of one
object, and the scrypt wrapping of key slots. Everything that touches a key
lives here so the rest of the mesh code never handles raw cipher calls.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from dataclasses import dataclass

from secumail.errors import BackupFormatError

NONCE = 12
TAG = 16
COMP_NONE, COMP_ZLIB, COMP_ZSTD = 0, 1, 2
TYPE_DATA, TYPE_TREE = 1, 2
# level 1, not 3: on a maildir it packs as small (measured: 64.6 % of the bytes at either level)
# in four fifths of the time; readers decompress any level
ZSTD_LEVEL = 1

try:  # zstd when the module exists (PCs); OpenWrt has no python3-zstandard, so zlib there
    import zstandard as _zstd
except ImportError:  # pragma: no cover - depends on the host
    _zstd = None


def _aead(key: bytes):  # noqa: ANN202 - cryptography type, imported lazily
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    return ChaCha20Poly1305(key)


def derive(master: bytes, person: bytes) -> bytes:
    return hashlib.blake2b(b"", key=master, person=person, digest_size=32).digest()


@dataclass(frozen=True)
class Keys:
    """The working keys of one repository, derived from its master key."""

    master: bytes

    @property
    def id_key(self) -> bytes:
        return derive(self.master, b"secumail-id-v1")

    @property
    def enc_key(self) -> bytes:
        return derive(self.master, b"secumail-enc-v1")


class Cipher:
    """Seal and open objects and files with one repository's keys."""

    def __init__(self, keys: Keys, compression: int | None = None) -> None:
        self._id_key = keys.id_key
        self._aead = _aead(keys.enc_key)
        if compression is None:
            compression = COMP_ZSTD if _zstd is not None else COMP_ZLIB
        self.compression = compression
        self._use_zstd = _zstd is not None and compression == COMP_ZSTD
        # zstd contexts are not thread-safe: one per thread (backup and restore use worker threads)
        self._local = threading.local()

    @property
    def _zc(self):  # noqa: ANN202 - zstandard type, optional module
        if not self._use_zstd:
            return None
        zc = getattr(self._local, "zc", None)
        if zc is None:
            zc = self._local.zc = _zstd.ZstdCompressor(level=ZSTD_LEVEL)
        return zc

    @property
    def _zd(self):  # noqa: ANN202 - zstandard type, optional module
        if _zstd is None:
            return None
        zd = getattr(self._local, "zd", None)
        if zd is None:
            zd = self._local.zd = _zstd.ZstdDecompressor()
        return zd

    def object_id(self, plaintext: bytes) -> bytes:
        return hashlib.blake2b(plaintext, key=self._id_key, digest_size=32).digest()

    # compression ---------------------------------------------------------
    def compress(self, data: bytes) -> bytes:
        """Flag byte + payload; stored raw when compression does not shrink it."""
        if len(data) >= 64:
            if self._zc is not None:
                packed = self._zc.compress(data)
                if len(packed) < len(data):
                    return bytes([COMP_ZSTD]) + packed
            elif self.compression == COMP_ZLIB:
                packed = zlib.compress(data, 6)
                if len(packed) < len(data):
                    return bytes([COMP_ZLIB]) + packed
        return bytes([COMP_NONE]) + data

    def decompress(self, plain: bytes, what: str) -> bytes:
        flag, payload = plain[0], memoryview(plain)[1:]  # no copy of the payload before decompressing
        if flag == COMP_NONE:
            return bytes(payload)
        if flag == COMP_ZLIB:
            return zlib.decompress(payload)
        if flag == COMP_ZSTD:
            if self._zd is None:
                raise BackupFormatError(f"{what} is zstd-compressed but the zstandard module is missing here")
            return self._zd.decompress(payload)
        raise BackupFormatError(f"{what}: unknown compression flag {flag}")

    # sealing -------------------------------------------------------------
    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, ad)

    def open(self, sealed: bytes, ad: bytes, what: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        if len(sealed) < NONCE + TAG:
            raise BackupFormatError(f"{what} is truncated ({len(sealed)} bytes)")
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], ad)
        except InvalidTag:
            raise BackupFormatError(f"{what} failed authentication (corrupt or tampered)") from None

    def prepare_object(self, obj_type: int, plaintext: bytes) -> tuple[bytes, bytes, bytes, int]:
        """(object id, nonce, ciphertext, plain length): all the CPU work of storing an object.

        Thread-safe, and hashing, zstd and the file read release the GIL, so backup
        runs it in worker threads while the main thread walks and writes packs.
        """
        oid = self.object_id(plaintext)
        nonce, sealed = self.seal_object_parts(obj_type, oid, plaintext)
        return oid, nonce, sealed, len(plaintext)

    def seal_object_parts(self, obj_type: int, oid: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
        """Compress and seal one object: (nonce, ciphertext); the stored object is their concatenation."""
        nonce = os.urandom(NONCE)
        return nonce, self._aead.encrypt(nonce, self.compress(plaintext), bytes([obj_type]) + oid)

    def open_object(self, obj_type: int, oid: bytes, sealed: bytes) -> bytes:
        what = f"object {oid.hex()}"
        data = self.decompress(self.open(sealed, bytes([obj_type]) + oid, what), what)
        if self.object_id(data) != oid:
            raise BackupFormatError(f"{what} failed authentication (content does not match its id)")
        return data

    def seal_file(self, data: bytes, ad: bytes, pad_to: int = 1) -> bytes:
        plain = self.compress(data)
        if pad_to > 1:
            # length-prefixed so the padding can be cut off after opening
            body = len(plain).to_bytes(4, "little") + plain
            body += b"\0" * (-(len(body) + NONCE + TAG) % pad_to)
            return self.seal(body, ad + b"+pad")
        return self.seal(plain, ad)

    def open_file(self, sealed: bytes, ad: bytes, what: str, padded: bool = False) -> bytes:
        if padded:
            body = self.open(sealed, ad + b"+pad", what)
            size = int.from_bytes(body[:4], "little")
            return self.decompress(body[4 : 4 + size], what)
        return self.decompress(self.open(sealed, ad, what), what)


# key slots ---------------------------------------------------------------
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1
SLOT_AD = b"secumail-key-v1"


def scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)


def wrap_master(master: bytes, secret: bytes) -> dict:
    import base64

    salt = os.urandom(16)
    nonce = os.urandom(NONCE)
    sealed = nonce + _aead(scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(nonce, master, SLOT_AD)
    return {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(sealed).decode(),
    }


def unwrap_master(slot: dict, secret: bytes) -> bytes | None:
    """The master key, or None when `secret` does not open this slot.

    A slot is read from a copy a peer hands us, so its KDF parameters are not
    trusted: anything but exactly what wrap_master writes is refused before
    scrypt runs (n = 2^20, r = 32 would ask for 4 GiB).
    """
    import base64
    import binascii

    from cryptography.exceptions import InvalidTag

    if slot.get("kdf") != "scrypt":
        raise BackupFormatError(f"uses unknown kdf {slot.get('kdf')!r}")
    params = (slot.get("n"), slot.get("r"), slot.get("p"))
    if params != (SCRYPT_N, SCRYPT_R, SCRYPT_P) or not all(type(v) is int for v in params):
        raise BackupFormatError(
            f"asks for scrypt n={slot.get('n')!r}, r={slot.get('r')!r}, p={slot.get('p')!r}; "
            f"this secumail only opens slots made with n={SCRYPT_N}, r={SCRYPT_R}, p={SCRYPT_P}"
        )
    try:
        salt = base64.b64decode(slot["salt"], validate=True)
        sealed = base64.b64decode(slot["data"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise BackupFormatError("is malformed (salt or data is not base64)") from None
    if len(salt) != 16 or len(sealed) != NONCE + 64 + TAG:
        raise BackupFormatError("is malformed (salt or wrapped key of the wrong length)")
    key = scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    try:
        return _aead(key).decrypt(sealed[:NONCE], sealed[NONCE:], SLOT_AD)
    except InvalidTag:
        return None
