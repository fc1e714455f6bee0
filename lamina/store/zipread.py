"""Reading untrusted zips: the entry count before parsing, and each entry's real bytes.

:mod:`zipfile` trusts the central directory: it builds every member before anyone can
count them, and it stops reading at the size a header declares. Here the count is read
from the end record first, and stored/deflated members are inflated by hand so the bytes
are counted as they really come out; a member that produces more than its header says is
corrupt, and the caller's :class:`~lamina.store.zipcheck.SizeBudget` caps the total.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from lamina.store.zipcheck import corrupt

CHUNK = 1 << 16

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, 22 bytes
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes, just before the end record
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header, 30 bytes
_LOCAL_SIG = b"PK\x03\x04"
_MAX_COMMENT = 0xFFFF


def declared_entry_count(archive: BinaryIO) -> int | None:
    """The entry count the end record declares, or None if there is no end record.

    Read before :class:`zipfile.ZipFile` parses the central directory, so a zip claiming
    millions of entries is refused before millions of objects are built.
    """
    size = archive.seek(0, 2)
    tail_start = max(0, size - _EOCD.size - _MAX_COMMENT)
    archive.seek(tail_start)
    tail = archive.read()
    at = tail.rfind(_EOCD_SIG)
    if at < 0 or at + _EOCD.size > len(tail):
        return None
    count = int(_EOCD.unpack_from(tail, at)[4])
    record_at = tail_start + at
    if count != 0xFFFF or record_at < _ZIP64_LOCATOR.size:
        return count
    archive.seek(record_at - _ZIP64_LOCATOR.size)
    locator = _ZIP64_LOCATOR.unpack(archive.read(_ZIP64_LOCATOR.size))
    if locator[0] != _ZIP64_LOCATOR_SIG:
        return count
    archive.seek(int(locator[2]))
    record = archive.read(_ZIP64_EOCD.size)
    if len(record) != _ZIP64_EOCD.size or record[:4] != _ZIP64_EOCD_SIG:
        return None
    return int(_ZIP64_EOCD.unpack(record)[7])


def entry_chunks(raw: BinaryIO, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Yield a member's decompressed bytes, checking them against size and CRC.

    ``raw`` is a second handle on the archive, so seeking it never disturbs ``zf``.
    """
    produced = 0
    crc = 0
    for chunk in _decompressed(raw, zf, info):
        produced += len(chunk)
        if produced > info.file_size:
            raise corrupt(
                f"entry {info.filename!r} unpacks to more than the {info.file_size} bytes "
                "its header declares"
            )
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if produced != info.file_size or crc != info.CRC:
        raise corrupt(f"entry {info.filename!r} is damaged (size or CRC mismatch)")


def _decompressed(raw: BinaryIO, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    if info.compress_type == zipfile.ZIP_STORED:
        _seek_to_data(raw, info)
        yield from _read_exactly(raw, info.compress_size)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        _seek_to_data(raw, info)
        yield from _inflate(raw, info.compress_size)
    else:
        # bzip2 / lzma: rare in code packages. zipfile cuts them off at the declared size
        # and checks the CRC, which bounds them just as well.
        try:
            with zf.open(info) as member:
                while chunk := member.read(CHUNK):
                    yield chunk
        except NotImplementedError as exc:
            raise corrupt(f"entry {info.filename!r} uses an unsupported compression") from exc


def _seek_to_data(raw: BinaryIO, info: zipfile.ZipInfo) -> None:
    if info.header_offset < 0:
        raise corrupt(f"entry {info.filename!r} has a bad offset")
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        raise corrupt(f"entry {info.filename!r} is truncated")
    fields = _LOCAL.unpack(header)
    if fields[0] != _LOCAL_SIG:
        raise corrupt(f"entry {info.filename!r} has a bad local header")
    name_len, extra_len = int(fields[9]), int(fields[10])
    raw_name = raw.read(name_len)
    encoding = "utf-8" if int(fields[2]) & 0x800 else "cp437"
    if raw_name.decode(encoding, "replace") != info.orig_filename:
        # The central directory and the local header must name the same file.
        raise corrupt(f"entry {info.filename!r} has a mismatched local name")
    raw.seek(extra_len, 1)


def _read_exactly(raw: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = raw.read(min(CHUNK, left))
        if not chunk:
            raise corrupt("unexpected end of data")
        left -= len(chunk)
        yield chunk


def _inflate(raw: BinaryIO, compressed_size: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left = compressed_size
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                data = inflater.unconsumed_tail
            elif left > 0:
                data = raw.read(min(CHUNK, left))
                if not data:
                    raise corrupt("unexpected end of data")
                left -= len(data)
            else:
                data = b""
            # max_length bounds memory: a bomb never inflates more than CHUNK at once.
            out = inflater.decompress(data, CHUNK)
            if out:
                yield out
            elif not data:
                raise corrupt("truncated deflate stream")
    except zlib.error as exc:
        raise corrupt("invalid deflate stream") from exc
