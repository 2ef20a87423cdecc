"""An attachment's bytes → the report's bytes: gzip and zip inflated under a size limit.

The limit is enforced while inflating (never after), so a bomb costs at most
`limit` bytes of memory and the time to produce them.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from secumail.mail.reports.limits import Limits, Refused

_CHUNK = 64 * 1024
_STEP = 1024 * 1024


def unpack(data: bytes, limits: Limits) -> bytes:
    """The report inside `data`: gzip or zip by their magic bytes, else the bytes themselves."""
    if len(data) > limits.attachment:
        raise Refused(f"attachment of {len(data)} bytes (limit {limits.attachment})")
    if data[:2] == b"\x1f\x8b":
        return gunzip(data, limits.unpacked)
    if data[:4] == b"PK\x03\x04":
        return unzip(data, limits)
    if data[:4] in (b"PK\x05\x06", b"PK\x07\x08"):
        raise Refused("empty or split zip archive")
    if len(data) > limits.unpacked:
        raise Refused(f"report larger than {limits.unpacked} bytes")
    return data


def gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of `data`, inflated; Refused when more than `limit` bytes or truncated."""
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        pending = rest
        try:
            while not inflater.eof:
                # at most 1 MiB per step, kept as chunks: a bomb costs the limit, not twice it
                chunk = inflater.decompress(pending, min(_STEP, limit + 1 - total))
                pending = inflater.unconsumed_tail
                total += len(chunk)
                if total > limit:
                    raise Refused(f"gzip inflates to more than {limit} bytes")
                if not chunk and not pending:
                    break
                out.append(chunk)
        except zlib.error as exc:
            raise Refused(f"corrupt gzip data ({exc})") from None
        if not inflater.eof:
            raise Refused("truncated gzip data")
        rest = inflater.unused_data
        if rest and rest.strip(b"\0") == b"":
            break  # padding after the last member
    return b"".join(out)


def unzip(data: bytes, limits: Limits) -> bytes:
    """The one report member of a zip archive, read under the size limit whatever its header claims."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise Refused(f"corrupt zip archive ({exc})") from None
    if len(members) > limits.zip_members:
        raise Refused(f"zip archive with {len(members)} members (limit {limits.zip_members})")
    reports = [info for info in members if info.filename.lower().endswith((".xml", ".json"))] or members
    if len(reports) != 1:
        raise Refused(f"zip archive with {len(reports)} report files (exactly one)")
    info = reports[0]
    if info.flag_bits & 0x1:
        raise Refused(f"encrypted zip member {info.filename!r}")
    out: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                out.append(chunk)
                total += len(chunk)
                if total > limits.unpacked:
                    raise Refused(f"zip member {info.filename!r} inflates to more than {limits.unpacked} bytes")
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, ValueError, OSError) as exc:
        raise Refused(f"corrupt zip member {info.filename!r} ({exc})") from None
    return b"".join(out)
