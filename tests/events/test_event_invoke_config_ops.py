"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s): shapes and Lambda's messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.events.asyncinvoke.operations import EventInvokeConfigOperations
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def resolve(name: str, qualifier: str | None) -> str:
    if name != "fn" or qualifier not in (None, "$LATEST", "1", "live"):
        raise ResourceNotFound(f"Function not found: {ARN}:{qualifier}")
    return ARN


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[EventInvokeConfigOperations]:
    store = AsyncInvokeStore(tmp_path / "q.db", fsync=False)
    yield EventInvokeConfigOperations(EventInvokeConfigs(store), resolve, clock=lambda: 1700.5)
    store.close()


def test_put_then_get_returns_lambda_shape(ops: EventInvokeConfigOperations) -> None:
    status, body = ops.handle(
        "PUT",
        "fn",
        None,
        {
            "MaximumRetryAttempts": 1,
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}
            },
        },
    )
    assert status == 200
    assert body == {
        "LastModified": 1700.5,
        "FunctionArn": f"{ARN}:$LATEST",
        "MaximumRetryAttempts": 1,
        "DestinationConfig": {
            "OnSuccess": {},
            "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"},
        },
    }
    assert ops.handle("GET", "fn", "$LATEST") == (200, body)


def test_put_replaces_and_update_merges(ops: EventInvokeConfigOperations) -> None:
    ops.put("fn", "1", {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 600})
    _, body = ops.update("fn", "1", {"MaximumEventAgeInSeconds": 120})
    assert body["MaximumRetryAttempts"] == 0 and body["MaximumEventAgeInSeconds"] == 120
    _, body = ops.put("fn", "1", {"MaximumEventAgeInSeconds": 300})
    assert "MaximumRetryAttempts" not in body
    assert ops.configs.effective("fn", "1").retries == 2


def test_configs_survive_a_restart(tmp_path: Path) -> None:
    store = AsyncInvokeStore(tmp_path / "q.db", fsync=False)
    EventInvokeConfigOperations(EventInvokeConfigs(store), resolve).put(
        "fn", "live", {"MaximumRetryAttempts": 0}
    )
    store.close()
    store = AsyncInvokeStore(tmp_path / "q.db", fsync=False)
    assert EventInvokeConfigs(store).effective("fn", "live").retries == 0
    store.close()


def test_out_of_range_values_are_all_reported(ops: EventInvokeConfigOperations) -> None:
    with pytest.raises(InvalidParameterValue) as err:
        ops.put("fn", None, {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 59})
    assert err.value.message == (
        "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
        "constraint: Member must have value less than or equal to 2; Value '59' at "
        "'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value "
        "greater than or equal to 60"
    )


def test_unsupported_and_malformed_destinations_are_refused(
    ops: EventInvokeConfigOperations,
) -> None:
    with pytest.raises(InvalidParameterValue, match="s3 destination"):
        ops.put(
            "fn",
            None,
            {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:s3:::bucket"}}},
        )
    with pytest.raises(InvalidParameterValue, match="is invalid"):
        ops.put("fn", None, {"DestinationConfig": {"OnFailure": {"Destination": "nope"}}})
    with pytest.raises(InvalidParameterValue, match="events destination"):
        ops.put(
            "fn",
            None,
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:events:r:1:rule/x"}}},
        )


def test_an_event_bus_is_a_destination(ops: EventInvokeConfigOperations) -> None:
    bus = "arn:aws:events:us-east-1:000000000000:event-bus/results"
    status, body = ops.put("fn", None, {"DestinationConfig": {"OnSuccess": {"Destination": bus}}})
    assert status == 200
    assert body["DestinationConfig"] == {"OnSuccess": {"Destination": bus}, "OnFailure": {}}


def test_a_topic_is_a_destination(ops: EventInvokeConfigOperations) -> None:
    topic = "arn:aws:sns:us-east-1:000000000000:results"
    status, body = ops.put("fn", None, {"DestinationConfig": {"OnFailure": {"Destination": topic}}})
    assert status == 200
    assert body["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": topic}}


def test_missing_config_and_missing_function_are_not_found(
    ops: EventInvokeConfigOperations,
) -> None:
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        ops.handle("GET", "fn", None)
    with pytest.raises(ResourceNotFound, match="doesn't have an EventInvokeConfig"):
        ops.handle("POST", "fn", None, {"MaximumRetryAttempts": 1})
    with pytest.raises(ResourceNotFound, match="Function not found"):
        ops.handle("PUT", "other", None, {})
    ops.handle("PUT", "fn", None, {})
    assert ops.handle("DELETE", "fn", None) == (204, None)
    with pytest.raises(ResourceNotFound):
        ops.handle("DELETE", "fn", None)


def test_list_pages_with_marker(ops: EventInvokeConfigOperations) -> None:
    for q in ("$LATEST", "1", "live"):
        ops.put("fn", q, {})
    _, first = ops.list("fn", None, "2")
    assert [c["FunctionArn"] for c in first["FunctionEventInvokeConfigs"]] == [
        f"{ARN}:$LATEST",
        f"{ARN}:1",
    ]
    _, second = ops.list("fn", first["NextMarker"], "2")
    assert [c["FunctionArn"] for c in second["FunctionEventInvokeConfigs"]] == [f"{ARN}:live"]
    assert "NextMarker" not in second
    with pytest.raises(InvalidParameterValue, match="less than or equal to 50"):
        ops.list("fn", None, "51")
