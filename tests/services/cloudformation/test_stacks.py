"""The stack store, the CloudFormation operations over it, and their XML as botocore parses it
(no server: the integration test drives the same code with boto3 and the AWS CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from lamina.services.cloudformation.handler import CloudFormationHandler
from lamina.services.cloudformation.model import (
    StackValidationError,
    parse_record,
    record_doc,
)
from lamina.services.cloudformation.operations import CloudFormationOperations
from lamina.services.cloudformation.store import MAX_EVENTS, StackStore
from lamina.services.iam.actions import query_access
from lamina.wire.http import Request

STACK_ID = "arn:aws:cloudformation:us-east-1:000000000000:stack/app/1234"


def record(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "StackId": STACK_ID,
        "TemplateBody": "Resources: {}\n",
        "Parameters": {"Stage": "dev"},
        "Outputs": [{"OutputKey": "Url", "OutputValue": "http://x", "ExportName": "app-url"}],
        "Resources": [
            {"LogicalResourceId": "Fn", "PhysicalResourceId": "app-Fn", "ResourceType": "T"},
            {"LogicalResourceId": "Q", "PhysicalResourceId": "http://q", "ResourceType": "U"},
        ],
    }
    doc.update(changes)
    return doc


@pytest.fixture
def store(tmp_path: Path) -> StackStore:
    return StackStore(tmp_path / "stacks.db")


def test_a_record_round_trips_and_bad_records_are_refused() -> None:
    rec = parse_record("app", record())
    assert parse_record("app", record_doc(rec)) == rec
    with pytest.raises(StackValidationError, match="stackName"):
        parse_record("1-bad_name", record())
    with pytest.raises(StackValidationError, match="StackId"):
        parse_record("app", record(StackId=""))
    with pytest.raises(StackValidationError, match="Resources"):
        parse_record("app", record(Resources={"Fn": 1}))
    with pytest.raises(StackValidationError, match="JSON object"):
        parse_record("app", [1])


def test_create_update_delete_lifecycle(store: StackStore) -> None:
    created = store.record(parse_record("app", record()), now=100.0)
    assert (created.status, created.created, created.updated) == ("CREATE_COMPLETE", 100.0, None)
    updated = store.record(parse_record("app", record(Resources=record()["Resources"][:1])), 200.0)
    assert (updated.status, updated.created, updated.updated) == ("UPDATE_COMPLETE", 100.0, 200.0)
    found = store.find("app")
    assert found is not None
    assert [(r.logical_id, r.status) for r in store.resources(found)] == [("Fn", "UPDATE_COMPLETE")]
    statuses = [(e.logical_id, e.status) for e in store.events(found)]
    assert statuses[:3] == [
        ("app", "UPDATE_COMPLETE"),
        ("Q", "DELETE_COMPLETE"),
        ("Fn", "UPDATE_COMPLETE"),
    ]
    store.mark_deleted(STACK_ID, 300.0)
    assert store.find("app") is None  # by name: live stacks only, as on AWS
    gone = store.find(STACK_ID)
    assert gone is not None and (gone.status, gone.deleted) == ("DELETE_COMPLETE", 300.0)
    assert store.resources(gone) == []
    # A new up of the same name creates it again.
    again = store.record(parse_record("app", record()), 400.0)
    assert (again.status, again.created) == ("CREATE_COMPLETE", 400.0)


def test_an_unchanged_record_leaves_the_stack_as_it_was(store: StackStore) -> None:
    store.record(parse_record("app", record()), now=100.0)
    found = store.find("app")
    assert found is not None
    events = len(store.events(found))
    same = store.record(parse_record("app", record(Changed=False)), now=200.0)
    assert (same.status, same.created, same.updated) == ("CREATE_COMPLETE", 100.0, None)
    assert len(store.events(found)) == events
    # One resource changed: only it is updated (and has an event); the other stays.
    rows = record()["Resources"]
    rows = [{**rows[0], "Changed": False}, {**rows[1], "Changed": True}]
    store.record(parse_record("app", record(Resources=rows, Changed=True)), now=250.0)
    assert [(r.logical_id, r.status, r.updated) for r in store.resources(found)] == [
        ("Fn", "CREATE_COMPLETE", 100.0),
        ("Q", "UPDATE_COMPLETE", 250.0),
    ]
    assert [(e.logical_id, e.status) for e in store.events(found)][:3] == [
        ("app", "UPDATE_COMPLETE"),
        ("Q", "UPDATE_COMPLETE"),
        ("app", "UPDATE_IN_PROGRESS"),
    ]
    # A changed Output is an update even when no resource changed.
    outputs = [{"OutputKey": "Url", "OutputValue": "http://y"}]
    moved = store.record(parse_record("app", record(Changed=False, Outputs=outputs)), 300.0)
    assert (moved.status, moved.created, moved.updated) == ("UPDATE_COMPLETE", 100.0, 300.0)


def test_events_are_bounded(store: StackStore) -> None:
    rec = parse_record("app", record())
    for i in range(MAX_EVENTS // 4 + 5):
        store.record(rec, float(i))
    found = store.find("app")
    assert found is not None
    assert len(store.events(found)) == MAX_EVENTS


def test_operations_answer_as_cloudformation(store: StackStore) -> None:
    store.record(parse_record("app", record()), now=1_700_000_000.5)
    ops = CloudFormationOperations(store)
    stack = ops.describe_stacks({"StackName": "app"})["Stacks"][0]
    assert stack["CreationTime"] == "2023-11-14T22:13:20.500Z"
    assert ops.list_exports({})["Exports"] == [
        {"ExportingStackId": STACK_ID, "Name": "app-url", "Value": "http://x"}
    ]
    with pytest.raises(StackValidationError, match="Stack with id nope does not exist"):
        ops.describe_stacks({"StackName": "nope"})
    with pytest.raises(StackValidationError, match="enum value set"):
        ops.list_stacks({"StackStatusFilter.member.1": "DONE"})
    assert ops.list_stacks({"StackStatusFilter.member.1": "DELETE_COMPLETE"}) == {
        "StackSummaries": []
    }


def _parsed(action: str, body: bytes) -> dict[str, Any]:
    model = botocore.session.get_session().get_service_model("cloudformation")
    shape = model.operation_model(action).output_shape
    out: dict[str, Any] = create_parser("query").parse(
        {"body": body, "headers": {}, "status_code": 200}, shape
    )
    return out


def _request(body: str) -> Request:
    return Request(
        "POST",
        "/",
        {"content-type": "application/x-www-form-urlencoded"},
        body.encode(),
    )


def test_the_xml_is_what_botocore_parses(store: StackStore) -> None:
    store.record(parse_record("app", record()), now=1_700_000_000.0)
    handler = CloudFormationHandler(store)
    answer = handler.handle(_request("Action=DescribeStacks&Version=2010-05-15&StackName=app"))
    assert answer.status == 200
    stack = _parsed("DescribeStacks", answer.body)["Stacks"][0]
    assert stack["Outputs"] == [
        {"OutputKey": "Url", "OutputValue": "http://x", "ExportName": "app-url"}
    ]
    assert stack["Parameters"] == [{"ParameterKey": "Stage", "ParameterValue": "dev"}]
    assert stack["CreationTime"].year == 2023
    answer = handler.handle(_request("Action=ListStackResources&Version=2010-05-15&StackName=app"))
    rows = _parsed("ListStackResources", answer.body)["StackResourceSummaries"]
    assert [r["PhysicalResourceId"] for r in rows] == ["app-Fn", "http://q"]
    refused = handler.handle(_request("Action=CreateStack&Version=2010-05-15&StackName=app"))
    assert refused.status == 400 and b"<Code>InvalidAction</Code>" in refused.body


def test_signed_mode_names_cloudformation_actions_on_the_stack() -> None:
    access = query_access(
        "cloudformation",
        {"Action": "DescribeStacks", "StackName": "app"},
        "/",
        "h",
        "us-east-1",
        "000000000000",
    )
    assert access.action == "cloudformation:DescribeStacks"
    assert access.resource == "arn:aws:cloudformation:us-east-1:000000000000:stack/app/*"
    by_id = query_access(
        "cloudformation", {"Action": "X", "StackName": STACK_ID}, "/", "h", "r", "a"
    )
    assert by_id.resource == STACK_ID
