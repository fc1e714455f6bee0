"""Event-stream messages as botocore decodes them, and boto3's own stream parser."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer

from lamina.wire.eventstream import encode_message, invoke_complete, payload_chunk


def decode(raw: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(dict(m.headers), m.payload) for m in buffer]


def test_payload_chunks_and_completion_decode_with_botocore() -> None:
    raw = payload_chunk(b"hello ") + payload_chunk(b"world") + invoke_complete(log_result="bG9n")
    messages = decode(raw)
    assert [m[0][":event-type"] for m in messages] == [
        "PayloadChunk",
        "PayloadChunk",
        "InvokeComplete",
    ]
    assert b"".join(p for h, p in messages if h[":event-type"] == "PayloadChunk") == b"hello world"
    assert json.loads(messages[2][1]) == {"LogResult": "bG9n"}
    assert messages[0][0][":message-type"] == "event"


def test_an_error_mid_stream_is_in_invoke_complete() -> None:
    headers, payload = decode(invoke_complete("Unhandled", '{"errorMessage":"boom"}'))[0]
    assert headers[":content-type"] == "application/json"
    assert json.loads(payload) == {
        "ErrorCode": "Unhandled",
        "ErrorDetails": '{"errorMessage":"boom"}',
    }


def test_messages_split_anywhere_still_decode() -> None:
    raw = payload_chunk(b"x" * 1000) + payload_chunk(b"") + invoke_complete()
    buffer = EventStreamBuffer()
    for i in range(0, len(raw), 7):
        buffer.add_data(raw[i : i + 7])
    messages = list(buffer)
    assert [len(m.payload) for m in messages[:2]] == [1000, 0]


def test_botocore_parses_the_events_into_invoke_with_response_streams_shapes() -> None:
    import boto3
    from botocore.parsers import EventStreamJSONParser

    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    model = client.meta.service_model.operation_model("InvokeWithResponseStream")
    shape = model.output_shape.members["EventStream"]
    buffer = EventStreamBuffer()
    buffer.add_data(payload_chunk(b"a") + invoke_complete("Unhandled", "boom", "bG9n"))
    parser = EventStreamJSONParser()
    events = [parser.parse(m.to_response_dict(), shape) for m in buffer]
    assert events[0]["PayloadChunk"] == {"Payload": b"a"}
    assert events[1]["InvokeComplete"] == {
        "ErrorCode": "Unhandled",
        "ErrorDetails": "boom",
        "LogResult": "bG9n",
    }


def test_header_encoding_is_length_prefixed() -> None:
    raw = encode_message(((":event-type", "X"),), b"")
    # total length 16 (prelude) + header bytes + 4 (crc)
    header_len = 1 + len(":event-type") + 1 + 2 + 1
    assert int.from_bytes(raw[:4], "big") == 12 + header_len + 4
    assert int.from_bytes(raw[4:8], "big") == header_len
