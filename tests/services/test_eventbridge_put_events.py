"""PutEvents' entries: sizes, envelopes and per-entry failures (pure)."""

from __future__ import annotations

import uuid

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.put_events import (
    MAX_BYTES,
    Failed,
    answer,
    entry_size,
    parse_entries,
    to_event,
)

ENTRY = {"Source": "shop", "DetailType": "Order", "Detail": '{"n": 1}', "Resources": ["r"]}


def test_an_entry_becomes_an_envelope_with_a_uuid_and_its_time() -> None:
    event = to_event({**ENTRY, "Time": 1_767_236_400}, region="eu-west-1", account="1", now=0)
    assert isinstance(event, dict)
    uuid.UUID(event["id"])
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Order",
        "source": "shop",
        "account": "1",
        "time": "2026-01-01T03:00:00Z",
        "region": "eu-west-1",
        "resources": ["r"],
        "detail": {"n": 1},
    }
    now = to_event(ENTRY, region="r", account="1", now=0)
    assert isinstance(now, dict) and now["time"] == "1970-01-01T00:00:00Z"


def test_the_size_counts_the_fields_and_fourteen_bytes_for_time() -> None:
    assert entry_size(ENTRY) == 4 + 5 + 8 + 1 + 14
    with pytest.raises(AwsServiceError, match="over the limit"):
        parse_entries({"Entries": [{**ENTRY, "Detail": "x" * (MAX_BYTES - 20)}]})


def test_answer_counts_failures_in_order() -> None:
    good = to_event(ENTRY, region="r", account="1", now=0)
    bad = to_event({**ENTRY, "Time": "yesterday"}, region="r", account="1", now=0)
    assert isinstance(good, dict) and isinstance(bad, Failed)
    assert answer([bad, good]) == {
        "FailedEntryCount": 1,
        "Entries": [
            {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Time is not valid."},
            {"EventId": good["id"]},
        ],
    }
