"""DeadLetterConfig: an async event whose retries are spent lands in the function's DLQ."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("data")
    lamina = LaminaProcess(
        data, {"LAMINA_ASYNC_RETRY_DELAY_1_S": "0.1", "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.1"}
    ).start()
    yield lamina
    lamina.stop()


def _sqs(server: LaminaProcess) -> object:
    return boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA",
        aws_secret_access_key="lamina-secret",
    )


def test_spent_retries_send_the_event_to_the_dead_letter_queue(server: LaminaProcess) -> None:
    sqs = _sqs(server)
    url = sqs.create_queue(QueueName="failures-dlq")["QueueUrl"]  # type: ignore[attr-defined]
    arn = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    lam = server.lambda_client()
    server.create(
        "dlq-failing",
        python_zip("""
        def handler(event, context):
            raise RuntimeError("always fails")
    """),
        DeadLetterConfig={"TargetArn": arn},
    )
    assert lam.get_function_configuration(FunctionName="dlq-failing")["DeadLetterConfig"] == {
        "TargetArn": arn
    }
    lam.put_function_event_invoke_config(FunctionName="dlq-failing", MaximumRetryAttempts=1)
    lam.invoke(
        FunctionName="dlq-failing",
        InvocationType="Event",
        Payload=json.dumps({"order": 42}).encode(),
    )
    deadline = time.monotonic() + 60
    messages: list[dict[str, object]] = []
    while time.monotonic() < deadline and not messages:
        messages = sqs.receive_message(  # type: ignore[attr-defined]
            QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
    assert messages, "the failed event never reached the dead-letter queue"
    body = messages[0]["Body"]
    assert isinstance(body, str) and json.loads(body) == {"order": 42}
    attrs = messages[0]["MessageAttributes"]
    assert isinstance(attrs, dict) and "RequestID" in attrs


def test_a_dead_letter_target_must_be_a_queue_arn(server: LaminaProcess) -> None:
    with pytest.raises(ClientError) as err:
        server.create(
            "dlq-bad",
            python_zip("def handler(e, c):\n    return 1\n"),
            DeadLetterConfig={"TargetArn": "not-an-arn"},
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
