"""PutEvents and event-pattern rules through a real ``lamina serve``, driven by boto3.

A Lambda target gets the event envelope (seen through its OnSuccess destination, a
queue); an SQS target gets it as the message body; events the pattern does not match
reach neither; bad entries fail one by one, bad requests and patterns as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from botocore.exceptions import ClientError

from tests.events.live import (
    ACCOUNT,
    REGION,
    ROLE,
    client,
    function_arn,
    queue_arn,
    receive_all,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ECHO = """\
def handler(event, context):
    return {"got": event["detail"]}
"""

ORDERS = json.dumps(
    {
        "source": ["shop.orders"],
        "detail-type": ["OrderPlaced"],
        "detail": {"total": [{"numeric": [">=", 100]}], "region": [{"anything-but": "test"}]},
    }
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = start_server(tmp_path_factory.mktemp("put-events") / "data")
    yield server
    server.stop()


def entry(total: int, region: str = "eu", source: str = "shop.orders") -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": "OrderPlaced",
        "Detail": json.dumps({"total": total, "region": region}),
        "Resources": ["arn:aws:shop:::order/1"],
    }


def test_matching_events_reach_lambda_and_sqs_targets(server: LaminaProcess) -> None:
    lam, sqs, events = (client(server.endpoint, s) for s in ("lambda", "sqs", "events"))
    lam.create_function(
        FunctionName="echo",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(ECHO)},
        MemorySize=256,
    )
    seen = sqs.create_queue(QueueName="seen")["QueueUrl"]
    orders = sqs.create_queue(QueueName="orders")["QueueUrl"]
    lam.put_function_event_invoke_config(
        FunctionName="echo", DestinationConfig={"OnSuccess": {"Destination": queue_arn("seen")}}
    )
    events.put_rule(Name="big-orders", EventPattern=ORDERS)
    events.put_targets(
        Rule="big-orders",
        Targets=[
            {"Id": "fn", "Arn": function_arn("echo")},
            {"Id": "q", "Arn": queue_arn("orders"), "InputPath": "$.detail"},
        ],
    )
    assert events.describe_rule(Name="big-orders")["EventPattern"] == ORDERS

    put = events.put_events(
        Entries=[
            entry(5),  # too small
            entry(500, region="test"),  # excluded region
            entry(500, source="shop.returns"),  # another source
            entry(250),  # the one that matches
        ]
    )
    assert put["FailedEntryCount"] == 0
    ids = [e["EventId"] for e in put["Entries"]]
    assert len(set(ids)) == 4

    records: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []

    def delivered() -> bool:
        records.extend(m["json"] for m in receive_all(sqs, seen, wait_s=1))
        messages.extend(m["json"] for m in receive_all(sqs, orders))
        return bool(records) and bool(messages)

    wait_until(delivered, what="the matching event at both targets")
    assert messages == [{"total": 250, "region": "eu"}]
    assert len(records) == 1
    event = EventBridgeModel(**records[0]["requestPayload"])
    assert event.id == ids[3]
    assert (event.source, event.detail_type) == ("shop.orders", "OrderPlaced")
    assert (event.account, event.region) == (ACCOUNT, REGION)
    assert event.resources == ["arn:aws:shop:::order/1"]
    assert event.detail == {"total": 250, "region": "eu"}
    assert records[0]["responsePayload"] == {"got": {"total": 250, "region": "eu"}}

    # Disabled: nothing is delivered; the next matching event after enabling is.
    events.disable_rule(Name="big-orders")
    events.put_events(Entries=[entry(300)])
    events.enable_rule(Name="big-orders")
    events.put_events(Entries=[entry(400)])

    def second() -> bool:
        messages.extend(m["json"] for m in receive_all(sqs, orders, wait_s=1))
        return len(messages) > 1

    wait_until(second, what="the event put after enabling")
    assert [m["total"] for m in messages] == [250, 400]


def test_bad_entries_fail_one_by_one(server: LaminaProcess) -> None:
    events = client(server.endpoint, "events")
    put = events.put_events(
        Entries=[
            {"Source": "a", "DetailType": "b", "Detail": "[1, 2]"},
            {"Source": "a", "DetailType": "b", "Detail": "{"},
            {"DetailType": "b", "Detail": "{}"},
            {"Source": "a", "Detail": "{}"},
            {"Source": "a", "DetailType": "b"},
            {"Source": "a", "DetailType": "b", "Detail": "{}", "EventBusName": "other"},
            {"Source": "a", "DetailType": "b", "Detail": "{}"},
        ]
    )
    assert put["FailedEntryCount"] == 6
    codes = [e.get("ErrorCode") for e in put["Entries"]]
    assert codes == ["MalformedDetail", "MalformedDetail", "InvalidArgument", "InvalidArgument",
                     "InvalidArgument", "ResourceNotFoundException", None]  # fmt: skip
    assert "Source is a required argument" in put["Entries"][2]["ErrorMessage"]
    assert "EventId" in put["Entries"][6]


def test_bad_requests_and_patterns_are_refused_whole(server: LaminaProcess) -> None:
    events = client(server.endpoint, "events", parameter_validation=False)
    one = {"Source": "a", "DetailType": "b", "Detail": "{}"}
    for entries in ([], [one] * 11, [{**one, "Detail": json.dumps({"x": "y" * 262_144})}]):
        with pytest.raises(ClientError) as err:
            events.put_events(Entries=entries)
        assert err.value.response["Error"]["Code"] == "ValidationException"
    for pattern in ("{", '{"source": "a"}', '{"n": [{"numeric": [">", "x"]}]}'):
        with pytest.raises(ClientError) as err:
            events.put_rule(Name="bad", EventPattern=pattern)
        assert err.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="bad")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert events.test_event_pattern(
        EventPattern=ORDERS,
        Event=json.dumps({"source": "shop.orders", "detail-type": "OrderPlaced",
                          "detail": {"total": 100, "region": "us"}}),
    )["Result"] is True  # fmt: skip
