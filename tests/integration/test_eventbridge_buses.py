"""Custom event buses through a real ``lamina serve``, driven by boto3: the four bus
operations and their refusals, rules and PutEvents on a named bus (by name and by ARN),
Lambda's event-bus destinations reaching a rule's queue with Lambda's envelope, a target's
InputTransformer, and buses, rules and targets kept across a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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

BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/"
HANDLER = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("buses") / "data"


@pytest.fixture(scope="module")
def server(data: Path) -> Iterator[LaminaProcess]:
    server = start_server(data)
    yield server
    server.stop()


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def test_bus_operations_and_their_refusals(server: LaminaProcess) -> None:
    events = client(server.endpoint, "events")
    made = events.create_event_bus(Name="orders", Description="shop orders")
    assert made["EventBusArn"] == BUS_ARN + "orders"
    with pytest.raises(ClientError) as err:
        events.create_event_bus(Name="orders")
    assert code(err) == ("ResourceAlreadyExistsException", "Event bus orders already exists.")
    with pytest.raises(ClientError) as err:
        events.create_event_bus(Name="default")
    assert code(err)[0] == "ResourceAlreadyExistsException"

    by_name = events.describe_event_bus(Name="orders")
    assert (by_name["Name"], by_name["Arn"], by_name["Description"]) == (
        "orders",
        BUS_ARN + "orders",
        "shop orders",
    )
    assert events.describe_event_bus(Name=BUS_ARN + "orders")["Name"] == "orders"
    assert events.describe_event_bus()["Arn"] == BUS_ARN + "default"
    with pytest.raises(ClientError) as err:
        events.describe_event_bus(Name="nope")
    assert code(err) == ("ResourceNotFoundException", "Event bus nope does not exist.")
    listed = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert {"default", "orders"} <= set(listed)
    assert [b["Name"] for b in events.list_event_buses(NamePrefix="ord")["EventBuses"]] == [
        "orders"
    ]

    with pytest.raises(ClientError) as err:
        events.delete_event_bus(Name="default")
    assert code(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="r", EventPattern='{"source": ["a"]}', EventBusName="nope")
    assert code(err) == ("ResourceNotFoundException", "Event bus nope does not exist.")
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="tick", ScheduleExpression="rate(1 hour)", EventBusName="orders")
    assert code(err) == (
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    )

    # A rule is named within its bus: the same name on two buses is two rules.
    on_bus = events.put_rule(Name="same", EventPattern='{"source": ["a"]}', EventBusName="orders")
    assert on_bus["RuleArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders/same"
    with pytest.raises(ClientError) as err:
        events.describe_rule(Name="same")
    assert code(err) == (
        "ResourceNotFoundException",
        "Rule same does not exist on EventBus default.",
    )
    shown = events.describe_rule(Name="same", EventBusName=BUS_ARN + "orders")
    assert (shown["EventBusName"], shown["Arn"]) == ("orders", on_bus["RuleArn"])
    assert [r["Name"] for r in events.list_rules(EventBusName="orders")["Rules"]] == ["same"]
    assert "same" not in [r["Name"] for r in events.list_rules()["Rules"]]

    # A bus with rules is not deleted; once they are gone, it is.
    events.create_event_bus(Name="scratch")
    events.put_rule(Name="r", EventPattern='{"source": ["a"]}', EventBusName="scratch")
    with pytest.raises(ClientError) as err:
        events.delete_event_bus(Name="scratch")
    assert code(err) == ("ValidationException", "EventBus can't be deleted since it has rules.")
    events.delete_rule(Name="r", EventBusName="scratch")
    events.delete_event_bus(Name="scratch")
    with pytest.raises(ClientError) as err:
        events.describe_event_bus(Name="scratch")
    assert code(err)[0] == "ResourceNotFoundException"
    events.delete_event_bus(Name="scratch")  # a missing bus: no error, as EventBridge

    # PutEvents to a bus that does not exist fails that entry alone.
    put = events.put_events(
        Entries=[
            {"Source": "a", "DetailType": "b", "Detail": "{}", "EventBusName": "nope"},
            {"Source": "a", "DetailType": "b", "Detail": "{}", "EventBusName": "orders"},
        ]
    )
    assert put["FailedEntryCount"] == 1
    assert put["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"
    assert "EventId" in put["Entries"][1]


def test_events_reach_only_the_rules_of_their_bus(server: LaminaProcess) -> None:
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    events.create_event_bus(Name="billing")
    custom = sqs.create_queue(QueueName="billing-seen")["QueueUrl"]
    default = sqs.create_queue(QueueName="default-seen")["QueueUrl"]
    pattern = json.dumps({"source": ["billing"]})
    events.put_rule(Name="invoices", EventPattern=pattern, EventBusName="billing")
    events.put_targets(
        Rule="invoices",
        EventBusName="billing",
        Targets=[{"Id": "q", "Arn": queue_arn("billing-seen")}],
    )
    events.put_rule(Name="invoices", EventPattern=pattern)  # the same rule on default
    events.put_targets(Rule="invoices", Targets=[{"Id": "q", "Arn": queue_arn("default-seen")}])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="invoices", EventBusName="billing")[
        "Targets"
    ]] == ["q"]  # fmt: skip

    def one(n: int, bus: str | None) -> dict[str, Any]:
        e = {"Source": "billing", "DetailType": "Invoice", "Detail": json.dumps({"n": n})}
        return e if bus is None else {**e, "EventBusName": bus}

    put = events.put_events(Entries=[one(1, "billing"), one(2, BUS_ARN + "billing"), one(3, None)])
    assert put["FailedEntryCount"] == 0
    on_custom: list[dict[str, Any]] = []
    on_default: list[dict[str, Any]] = []

    def delivered() -> bool:
        on_custom.extend(m["json"] for m in receive_all(sqs, custom))
        on_default.extend(m["json"] for m in receive_all(sqs, default))
        return len(on_custom) >= 2 and len(on_default) >= 1

    wait_until(delivered, what="events at the queues of both buses' rules")
    assert sorted(e["detail"]["n"] for e in on_custom) == [1, 2]
    assert [e["detail"]["n"] for e in on_default] == [3]
    ids = {e["EventId"] for e in put["Entries"]}
    assert {e["id"] for e in on_custom + on_default} == ids


def test_destinations_put_lambdas_records_on_a_custom_bus(server: LaminaProcess) -> None:
    lam, events, sqs = (client(server.endpoint, s) for s in ("lambda", "events", "sqs"))
    events.create_event_bus(Name="results")
    seen = sqs.create_queue(QueueName="results-seen")["QueueUrl"]
    events.put_rule(
        Name="lambda-results",
        EventPattern=json.dumps({"source": ["lambda"]}),
        EventBusName="results",
    )
    events.put_targets(
        Rule="lambda-results",
        EventBusName="results",
        Targets=[{"Id": "q", "Arn": queue_arn("results-seen")}],
    )
    lam.create_function(
        FunctionName="to-bus",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(HANDLER)},
        MemorySize=256,
    )
    bus = BUS_ARN + "results"
    config = lam.put_function_event_invoke_config(
        FunctionName="to-bus",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": bus}, "OnFailure": {"Destination": bus}},
    )
    assert config["DestinationConfig"]["OnFailure"] == {"Destination": bus}
    with pytest.raises(ClientError) as err:
        lam.update_function_event_invoke_config(
            FunctionName="to-bus",
            DestinationConfig={"OnSuccess": {"Destination": f"{BUS_ARN[:-10]}rule/x"}},
        )
    assert code(err)[0] == "InvalidParameterValueException"

    ok = lam.invoke(FunctionName="to-bus", InvocationType="Event", Payload=b'{"n": 1}')
    bad = lam.invoke(FunctionName="to-bus", InvocationType="Event", Payload=b'{"fail": true}')
    got: list[dict[str, Any]] = []

    def delivered() -> bool:
        got.extend(m["json"] for m in receive_all(sqs, seen, wait_s=1))
        return len(got) >= 2

    wait_until(delivered, what="both destination records on the bus's queue")
    by_type = {e["detail-type"]: e for e in got}
    success = by_type["Lambda Function Invocation Result - Success"]
    failure = by_type["Lambda Function Invocation Result - Failure"]
    fn = function_arn("to-bus") + ":$LATEST"
    for event in (success, failure):
        assert (event["version"], event["source"]) == ("0", "lambda")
        assert (event["account"], event["region"]) == (ACCOUNT, REGION)
        assert event["resources"] == [bus, fn]
        assert event["detail"]["requestContext"]["functionArn"] == fn
    assert (
        success["detail"]["requestContext"]["requestId"]
        == (ok["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    )
    assert success["detail"]["requestContext"]["condition"] == "Success"
    assert success["detail"]["requestPayload"] == {"n": 1}
    assert success["detail"]["responsePayload"] == {"echo": {"n": 1}}
    assert (
        failure["detail"]["requestContext"]["requestId"]
        == (bad["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    )
    assert failure["detail"]["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["detail"]["responseContext"]["functionError"] == "Unhandled"
    assert failure["detail"]["responsePayload"]["errorMessage"] == "asked to fail"


SHAPING = {
    "InputPathsMap": {"n": "$.detail.n", "kind": "$.detail-type"},
    "InputTemplate": '{"number": <n>, "says": "<kind> #<n> from <aws.events.rule-name>"}',
}


def test_an_input_transformer_shapes_what_a_target_gets(server: LaminaProcess) -> None:
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    url = sqs.create_queue(QueueName="shaped")["QueueUrl"]
    events.put_rule(Name="shaped", EventPattern='{"source": ["shaping"]}', EventBusName="orders")
    target = {"Id": "q", "Arn": queue_arn("shaped"), "InputTransformer": SHAPING}
    events.put_targets(Rule="shaped", EventBusName="orders", Targets=[target])
    listed = events.list_targets_by_rule(Rule="shaped", EventBusName="orders")["Targets"]
    assert listed == [target]
    with pytest.raises(ClientError) as err:
        events.put_targets(
            Rule="shaped", EventBusName="orders", Targets=[{**target, "Input": "{}"}]
        )
    assert code(err) == (
        "ValidationException",
        "Only one of Input, InputPath, or InputTransformer may be set for target q.",
    )
    with pytest.raises(ClientError) as err:
        bad = {"InputPathsMap": {"n": "detail.n"}, "InputTemplate": "<n>"}
        events.put_targets(
            Rule="shaped", EventBusName="orders", Targets=[{**target, "InputTransformer": bad}]
        )
    assert code(err)[0] == "ValidationException"

    events.put_events(
        Entries=[
            {
                "Source": "shaping",
                "DetailType": "Order",
                "Detail": '{"n": 7}',
                "EventBusName": "orders",
            }
        ]
    )
    got: list[dict[str, Any]] = []

    def delivered() -> bool:
        got.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))
        return bool(got)

    wait_until(delivered, what="the transformed event at the queue")
    assert got == [{"number": 7, "says": "Order #7 from shaped"}]


def test_a_restart_keeps_buses_rules_and_their_delivery(server: LaminaProcess) -> None:
    """Runs last: restarts the module's server on its data directory."""
    server.stop()
    server.start()
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    names = {b["Name"] for b in events.list_event_buses()["EventBuses"]}
    assert {"default", "orders", "billing", "results"} <= names
    assert "scratch" not in names
    assert events.describe_event_bus(Name="orders")["Description"] == "shop orders"
    rule = events.describe_rule(Name="invoices", EventBusName="billing")
    assert rule["Arn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/billing/invoices"
    assert events.describe_rule(Name="invoices")["EventBusName"] == "default"
    shaped = events.list_targets_by_rule(Rule="shaped", EventBusName="orders")["Targets"]
    assert shaped[0]["InputTransformer"] == SHAPING
    url = sqs.get_queue_url(QueueName="billing-seen")["QueueUrl"]
    events.put_events(
        Entries=[
            {
                "Source": "billing",
                "DetailType": "I",
                "Detail": '{"n": 9}',
                "EventBusName": "billing",
            }
        ]
    )
    got: list[dict[str, Any]] = []

    def delivered() -> bool:
        got.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))
        return bool(got)

    wait_until(delivered, what="an event on the restarted server's custom bus")
    assert [e["detail"] for e in got] == [{"n": 9}]
