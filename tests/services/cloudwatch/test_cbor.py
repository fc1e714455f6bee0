"""The CBOR codec against botocore's own rpc-v2-cbor serializer and parser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from hypothesis import given
from hypothesis import strategies as st

from lamina.services.protocol import cbor

MODEL = botocore.session.get_session().get_service_model("cloudwatch")

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary()
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)  # fmt: skip


@given(values)
def test_round_trip(value: Any) -> None:
    assert cbor.loads(cbor.dumps(value)) == value


def test_decodes_what_botocore_sends() -> None:
    start = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    request = RpcV2CBORSerializer().serialize_to_request(
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
            "StartTime": start,
            "EndTime": datetime(2026, 1, 2, 4, tzinfo=UTC),
            "Period": 300,
            "Statistics": ["Sum", "Maximum"],
            "ExtendedStatistics": ["p99"],
        },
        MODEL.operation_model("GetMetricStatistics"),
    )
    body = cbor.loads(request["body"])
    assert isinstance(body["StartTime"], cbor.Epoch)
    assert body["StartTime"] == start.timestamp()
    assert body["Period"] == 300 and body["Dimensions"] == [{"Name": "FunctionName", "Value": "f"}]


def test_botocore_parses_what_lamina_answers() -> None:
    answer = cbor.dumps(
        {
            "Label": "Duration",
            "Datapoints": [
                {"Timestamp": cbor.Epoch(1767323040.0), "Sum": 12.5, "Unit": "Milliseconds"}
            ],
        }
    )
    parsed = RpcV2CBORParser().parse(
        {"body": answer, "headers": {"smithy-protocol": "rpc-v2-cbor"}, "status_code": 200},
        MODEL.operation_model("GetMetricStatistics").output_shape,
    )
    [point] = parsed["Datapoints"]
    assert point["Timestamp"].timestamp() == 1767323040.0 and point["Sum"] == 12.5


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # nothing
        b"\x62a",  # text of 2 bytes, 1 given
        b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff",  # an array claiming 2**64-1 items
        b"\xc2\x40",  # tag 2 (bignum) is not supported
        b"\xa1\x61a",  # a map missing its value
        b"\x01\x02",  # trailing bytes
        b"\xff",  # a lone break
        b"\x81" * 100 + b"\x00",  # nested past the limit
        b"\x62\xff\xfe",  # invalid UTF-8
    ],
)
def test_bad_input_raises_cbor_error(raw: bytes) -> None:
    with pytest.raises(cbor.CborError):
        cbor.loads(raw)
