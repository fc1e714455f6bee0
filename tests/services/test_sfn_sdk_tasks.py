"""The generic aws-sdk integration's pure parts: resolving a resource to the SDK's
operation, PascalCase Parameters to the model's members and back, error names."""

from __future__ import annotations

import datetime as dt

import pytest

from lamina.services.stepfunctions import sdk_tasks
from lamina.wire.http import Request
from lamina.wire.server import Response


async def _never(req: Request) -> Response:
    raise AssertionError("not called")


SDK = sdk_tasks.SdkTasks(_never, "us-east-1", "123456789012")


def test_resources_resolve_to_the_sdk_operation_case_insensitively() -> None:
    action = SDK.resolve("arn:aws:states:::aws-sdk:sfn:startExecution")
    assert action is not None
    assert (action.operation.name, action.error_prefix, action.protocol) == (
        "StartExecution", "Sfn", "json",
    )  # fmt: skip
    s3 = SDK.resolve("arn:aws:states:::aws-sdk:s3:listObjectsV2")
    assert s3 is not None and s3.operation.name == "ListObjectsV2"
    assert SDK.resolve("arn:aws:states:::aws-sdk:dynamodb:getItem") is None
    assert SDK.resolve("arn:aws:states:::aws-sdk:sqs:noSuchAction") is None


def test_pascal_case_parameters_become_the_models_member_names() -> None:
    action = SDK.resolve("arn:aws:states:::aws-sdk:sfn:startExecution")
    assert action is not None
    shape = action.operation.input_shape
    got = sdk_tasks._to_api({"StateMachineArn": "arn", "Input": {"a": [1]}}, shape, "")
    assert got == {"stateMachineArn": "arn", "input": '{"a": [1]}'}
    with pytest.raises(sdk_tasks._BadParameter, match="Nope"):
        sdk_tasks._to_api({"StateMachineArn": "arn", "Nope": 1}, shape, "")


def test_answers_come_back_in_pascal_case_with_text_timestamps_and_blobs() -> None:
    action = SDK.resolve("arn:aws:states:::aws-sdk:sfn:startExecution")
    assert action is not None
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    out = sdk_tasks._from_api(
        {"executionArn": "arn", "startDate": when}, action.operation.output_shape
    )
    assert out == {"ExecutionArn": "arn", "StartDate": "2026-01-02T03:04:05.678Z"}
    assert sdk_tasks._from_api({"Payload": b'{"x": 1}'}, None) == {"Payload": '{"x": 1}'}
