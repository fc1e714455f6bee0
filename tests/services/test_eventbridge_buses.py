"""Custom event buses and rules on them, in RuleOperations and RuleStore (no server): names
within a bus, events matched per bus, refusals, a reopened store, and the event Lambda puts
on an event-bus destination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.events.asyncinvoke.destinations import bus_event, destination_record
from lamina.events.asyncinvoke.policy import Condition
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import Rule, RuleStore

REGION, ACCOUNT = "us-east-1", "000000000000"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/"
PATTERN = '{"source": ["shop"]}'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuleStore]:
    store = RuleStore(tmp_path / "schedules.db")
    yield store
    store.close()


def operations(store: RuleStore) -> tuple[RuleOperations, list[tuple[str, str]]]:
    ops = RuleOperations(store, REGION, ACCOUNT, clock=lambda: 1_700_000_000.0)
    published: list[tuple[str, str]] = []

    def publish(rule: Rule, event: dict[str, Any]) -> None:
        published.append((rule.bus, event["detail-type"]))

    ops.publish = publish
    return ops, published


def entry(bus: str | None, kind: str) -> dict[str, Any]:
    e = {"Source": "shop", "DetailType": kind, "Detail": "{}"}
    return e if bus is None else {**e, "EventBusName": bus}


def refused(code: str, call: Any, members: dict[str, Any]) -> str:
    with pytest.raises(AwsServiceError) as err:
        call(members)
    assert err.value.code == code
    return err.value.message


def test_rules_are_named_within_their_bus_and_events_stay_on_theirs(store: RuleStore) -> None:
    ops, published = operations(store)
    assert ops.create_event_bus({"Name": "orders"}) == {"EventBusArn": BUS + "orders"}
    for bus in (None, "orders"):
        members = {"Name": "r", "EventPattern": PATTERN}
        ops.put_rule(members if bus is None else {**members, "EventBusName": bus})
        target = {"Id": "t", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{bus or 'default'}"}
        ops.put_targets({"Rule": "r", "Targets": [target], "EventBusName": bus})
    assert set(store.rules) == {"r", "orders/r"}
    shown = ops.describe_rule({"Name": "r", "EventBusName": BUS + "orders"})
    assert shown["Arn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders/r"
    assert ops.list_targets({"Rule": "r", "EventBusName": "orders"})["Targets"][0]["Arn"].endswith(
        ":orders"
    )
    ops.table()["DisableRule"]({"Name": "r", "EventBusName": "orders"})
    assert store.rules["orders/r"].state == "DISABLED" and store.rules["r"].enabled
    ops.table()["EnableRule"]({"Name": "r", "EventBusName": "orders"})

    answer = ops.put_events(
        {"Entries": [entry("orders", "a"), entry(BUS + "orders", "b"), entry(None, "c")]}
    )
    assert answer["FailedEntryCount"] == 0
    assert published == [("orders", "a"), ("orders", "b"), ("default", "c")]


def test_refusals_say_what_eventbridge_says(store: RuleStore) -> None:
    ops, _ = operations(store)
    ops.create_event_bus({"Name": "orders"})
    assert refused("ResourceAlreadyExistsException", ops.create_event_bus, {"Name": "orders"}) == (
        "Event bus orders already exists."
    )
    refused("ResourceAlreadyExistsException", ops.create_event_bus, {"Name": "default"})
    refused("ValidationException", ops.create_event_bus, {"Name": "a b"})
    refused("ValidationException", ops.create_event_bus, {"Name": "aws.partner/x"})
    assert refused("ResourceNotFoundException", ops.describe_event_bus, {"Name": "nope"}) == (
        "Event bus nope does not exist."
    )
    refused("ValidationException", ops.delete_event_bus, {"Name": "default"})
    refused(
        "ResourceNotFoundException",
        ops.put_rule,
        {"Name": "r", "EventPattern": PATTERN, "EventBusName": "nope"},
    )
    refused(
        "ValidationException",
        ops.put_rule,
        {"Name": "r", "ScheduleExpression": "rate(1 hour)", "EventBusName": "orders"},
    )
    ops.put_rule({"Name": "r", "EventPattern": PATTERN, "EventBusName": "orders"})
    assert refused("ResourceNotFoundException", ops.describe_rule, {"Name": "r"}) == (
        "Rule r does not exist on EventBus default."
    )
    assert refused("ValidationException", ops.delete_event_bus, {"Name": "orders"}) == (
        "EventBus can't be deleted since it has rules."
    )
    ops.delete_rule({"Name": "r", "EventBusName": "orders"})
    assert ops.delete_event_bus({"Name": "orders"}) == {}
    assert ops.delete_event_bus({"Name": "orders"}) == {}  # already gone: no error
    failed = ops.put_events({"Entries": [entry("orders", "a")]})
    assert failed["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"


def test_buses_and_their_rules_outlast_a_reopened_store(tmp_path: Path) -> None:
    first = RuleStore(tmp_path / "schedules.db")
    ops, _ = operations(first)
    ops.create_event_bus({"Name": "orders", "Description": "shop"})
    ops.put_rule({"Name": "r", "EventPattern": PATTERN, "EventBusName": "orders"})
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    ops.put_targets({"Rule": "r", "EventBusName": "orders", "Targets": [{"Id": "t", "Arn": queue}]})
    first.close()
    again = RuleStore(tmp_path / "schedules.db")
    try:
        ops, published = operations(again)
        listed = ops.list_event_buses({})["EventBuses"]
        assert [(b["Name"], b.get("Description")) for b in listed] == [
            ("default", None),
            ("orders", "shop"),
        ]
        rule = again.rules["orders/r"]
        assert (rule.name, rule.bus, rule.event_pattern) == ("r", "orders", PATTERN)
        assert [t.arn for t in rule.targets] == [queue]
        ops.put_events({"Entries": [entry("orders", "a")]})
        assert published == [("orders", "a")]
    finally:
        again.close()


def test_put_on_bus_needs_an_existing_bus(store: RuleStore) -> None:
    ops, published = operations(store)
    event = {"source": "shop", "detail-type": "d", "detail": {}}
    assert ops.put_on_bus(BUS + "nope", event) is False
    assert ops.put_on_bus(BUS + "default", event) is True
    assert published == []  # no rule on default matches: accepted, delivered nowhere


def test_the_event_lambda_puts_on_a_bus_wraps_the_destination_record() -> None:
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:$LATEST"
    record = destination_record(
        request_id="req-1",
        function_arn=fn,
        condition=Condition.RETRIES_EXHAUSTED,
        invoke_count=3,
        request_payload=b'{"n": 1}',
        last=None,
        now=1_767_236_400.5,
    )
    event = bus_event(
        record, bus_arn=BUS + "b", region=REGION, account=ACCOUNT, now=1_767_236_400.5
    )
    uuid.UUID(event["id"])
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Lambda Function Invocation Result - Failure",
        "source": "lambda",
        "account": ACCOUNT,
        "time": "2026-01-01T03:00:00Z",
        "region": REGION,
        "resources": [BUS + "b", fn],
        "detail": record,
    }
    ok = {**record, "requestContext": {**record["requestContext"], "condition": "Success"}}
    assert bus_event(ok, bus_arn="b", region="r", account="a", now=0)["detail-type"] == (
        "Lambda Function Invocation Result - Success"
    )
