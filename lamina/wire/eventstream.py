"""AWS's event-stream framing (``application/vnd.amazon.eventstream``), encoder side (pure).

``InvokeWithResponseStream`` answers with a stream of these messages (``PayloadChunk``
events, then one ``InvokeComplete``), and CloudWatch Logs' live tail uses the same framing.
Each message is::

    total length (u32) | headers length (u32) | CRC32 of those 8 bytes
    headers: name length (u8) | name | type 7 = string (u8) | value length (u16) | value
    payload
    CRC32 of everything before it

All integers are big-endian. botocore's ``EventStreamBuffer`` is the reference decoder the
tests check against.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence

_STRING = 7
_PRELUDE = struct.Struct(">II")


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def encode_message(headers: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    head = b"".join(_header(n, v) for n, v in headers)
    total = _PRELUDE.size + 4 + len(head) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(head))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: bytes, content_type: str) -> bytes:
    return encode_message(
        (
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ),
        payload,
    )


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` of ``InvokeWithResponseStream``: the function's bytes as written."""
    return event("PayloadChunk", data, "application/octet-stream")


def invoke_complete(
    error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
) -> bytes:
    """The closing ``InvokeComplete`` event; an error mid-stream is reported here."""
    fields = {
        k: v
        for k, v in (
            ("ErrorCode", error_code),
            ("ErrorDetails", error_details),
            ("LogResult", log_result),
        )
        if v is not None
    }
    return event("InvokeComplete", json.dumps(fields).encode(), "application/json")


def exception(error_type: str, message: str) -> bytes:
    """An ``exception`` message (a modelled error raised after the stream started)."""
    return encode_message(
        (
            (":exception-type", error_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ),
        json.dumps({"message": message}).encode(),
    )
