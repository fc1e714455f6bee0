"""The CBOR subset (RFC 8949) that Smithy's ``rpc-v2-cbor`` protocol uses, both ways (pure).

Decodes: integers, byte and text strings (definite and indefinite), arrays, maps, tag 1
(epoch timestamps, decoded to :class:`Epoch`), booleans, null/undefined, half/single/double
floats. Encodes the same, with an :class:`Epoch` written as tag 1 + a float. Bounded: nesting
depth and declared lengths are checked against the input, so bad bytes raise
:class:`CborError`, never allocate unboundedly.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_DEPTH = 64
_BREAK = object()


class CborError(ValueError):
    """Malformed or unsupported CBOR."""


class Epoch(float):
    """Seconds since the epoch, sent as CBOR tag 1 (a timestamp) rather than a plain number."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise CborError("truncated CBOR")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self.take(1 << (info - 24)), "big")
        raise CborError(f"unsupported CBOR additional info {info}")

    def item(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CborError("CBOR nested too deeply")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info)
        if info == 31:
            return self._indefinite(major, depth)
        arg = self.argument(info)
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self.take(arg)
        if major == 3:
            return self._text(self.take(arg))
        if major == 4:
            self._plausible(arg)
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            self._plausible(arg * 2)
            out: dict[Any, Any] = {}
            for _ in range(arg):
                key = self.item(depth + 1)
                out[key] = self.item(depth + 1)
            return out
        # major 6: a tag
        value = self.item(depth + 1)
        if arg == 1 and isinstance(value, int | float) and not isinstance(value, bool):
            return Epoch(value)
        raise CborError(f"unsupported CBOR tag {arg}")

    def _plausible(self, items: int) -> None:
        if items > len(self.data) - self.pos:  # every item takes at least one byte
            raise CborError("CBOR length exceeds the input")

    @staticmethod
    def _text(raw: bytes) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise CborError(f"invalid UTF-8 in a CBOR text string: {exc}") from None

    def _simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info == 31:
            return _BREAK
        raise CborError(f"unsupported CBOR simple value {info}")

    def _indefinite(self, major: int, depth: int) -> Any:
        if major in (2, 3):
            chunks: list[bytes] = []
            while (initial := self.take(1)[0]) != 0xFF:
                if initial >> 5 != major:
                    raise CborError("mixed chunk types in an indefinite CBOR string")
                chunks.append(self.take(self.argument(initial & 0x1F)))
            raw = b"".join(chunks)
            return raw if major == 2 else self._text(raw)
        if major == 4:
            items: list[Any] = []
            while (value := self.item(depth + 1)) is not _BREAK:
                items.append(value)
            return items
        if major == 5:
            out: dict[Any, Any] = {}
            while (key := self.item(depth + 1)) is not _BREAK:
                out[key] = self.item(depth + 1)
            return out
        raise CborError(f"indefinite length on CBOR major type {major}")


def loads(data: bytes) -> Any:
    """One CBOR data item; trailing bytes are an error."""
    reader = _Reader(data)
    value = reader.item()
    if value is _BREAK:
        raise CborError("unexpected CBOR break")
    if reader.pos != len(data):
        raise CborError("trailing bytes after the CBOR item")
    return value


def _head(out: bytearray, major: int, arg: int) -> None:
    if arg < 24:
        out.append(major << 5 | arg)
    elif arg < 1 << 8:
        out += bytes((major << 5 | 24, arg))
    elif arg < 1 << 16:
        out.append(major << 5 | 25)
        out += arg.to_bytes(2, "big")
    elif arg < 1 << 32:
        out.append(major << 5 | 26)
        out += arg.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += arg.to_bytes(8, "big")


def _encode(out: bytearray, value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CborError("value nested too deeply for CBOR")
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, Epoch):
        out.append(0xC1)
        out.append(0xFB)
        out += struct.pack(">d", float(value))
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, float):
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode()
        _head(out, 3, len(raw))
        out += raw
    elif isinstance(value, bytes | bytearray):
        _head(out, 2, len(value))
        out += value
    elif isinstance(value, list | tuple):
        _head(out, 4, len(value))
        for item in value:
            _encode(out, item, depth + 1)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key, item in value.items():
            _encode(out, key, depth + 1)
            _encode(out, item, depth + 1)
    else:
        raise CborError(f"cannot encode {type(value).__name__} as CBOR")


def dumps(value: Any) -> bytes:
    """CBOR for ``value`` (None, bool, int, float, :class:`Epoch`, str, bytes, list, dict)."""
    out = bytearray()
    _encode(out, value, 0)
    return bytes(out)
