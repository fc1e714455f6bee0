"""``aws-sdk:*`` Task integrations on Lamina's own services (SQS, Lambda, S3, Step
Functions, EventBridge, STS) and the optimized ``events:putEvents``, through boto3 on a
real ``lamina serve``: each integration's output shape, and an error caught by a Catch
under the name Step Functions gives it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.harness import EXAMPLES, LaminaProcess, aws_client

ROLE = "arn:aws:iam::123456789012:role/sfn"
SDK = "arn:aws:states:::aws-sdk:"
ACCOUNT = "000000000000"  # the test server's default account


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(
        tmp_path_factory.mktemp("workflows-sdk"), {"LAMINA_SCHEDULE_TIME_SCALE": "100"}
    ).start()
    proc.create("hello-python", (EXAMPLES / "hello-python.zip").read_bytes(),
                runtime="python3.11", handler="app.handler")  # fmt: skip
    yield proc
    proc.stop()


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, inject_host_prefix=False, s3={"addressing_style": "path"})


def run(server: LaminaProcess, name: str, states: dict[str, Any], input_doc: Any = None) -> Any:
    """Create a state machine of ``states`` (first one starts), run it, return its output."""
    sfn = client(server, "stepfunctions")
    definition = {"StartAt": next(iter(states)), "States": states}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input_doc or {}))
    deadline = time.monotonic() + 60
    while True:
        done = sfn.describe_execution(executionArn=ex["executionArn"])
        if done["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    return json.loads(done["output"])


def task(resource: str, params: dict[str, Any], result: str, nxt: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": params,
                             "ResultPath": f"$.{result}"}  # fmt: skip
    if nxt is None:
        state["End"] = True
    else:
        state["Next"] = nxt
    return state


def caught(resource: str, params: dict[str, Any], error: str) -> dict[str, Any]:
    """A Task that must fail with ``error``: the Catch leads to Done, else it fails."""
    return {"Type": "Task", "Resource": resource, "Parameters": params, "End": True,
            "Catch": [{"ErrorEquals": [error], "ResultPath": "$.caught", "Next": "Done"}]}  # fmt: skip


DONE = {"Type": "Succeed"}


def test_sqs_actions_create_send_receive_delete_and_missing_queue(server: LaminaProcess) -> None:
    sqs = SDK + "sqs:"
    out = run(server, "sdk-sqs", {
        "Create": task(sqs + "createQueue", {"QueueName": "sdk-orders"}, "created", "Url"),
        "Url": task(sqs + "getQueueUrl", {"QueueName": "sdk-orders"}, "url", "Send"),
        "Send": task(sqs + "sendMessage", {"QueueUrl.$": "$.url.QueueUrl",
                                           "MessageBody": {"order": 7}}, "sent", "Receive"),
        "Receive": task(sqs + "receiveMessage", {"QueueUrl.$": "$.url.QueueUrl",
                                                 "MaxNumberOfMessages": 1}, "got", "Delete"),
        "Delete": task(sqs + "deleteMessage", {"QueueUrl.$": "$.url.QueueUrl",
                                               "ReceiptHandle.$": "$.got.Messages[0].ReceiptHandle"},
                       "deleted", "Missing"),
        "Missing": caught(sqs + "getQueueUrl", {"QueueName": "no-such-queue"},
                          "Sqs.QueueDoesNotExistException"),
        "Done": DONE,
    })  # fmt: skip
    assert out["created"]["QueueUrl"].endswith("/sdk-orders")
    assert out["url"] == {"QueueUrl": out["created"]["QueueUrl"]}
    assert set(out["sent"]) >= {"MessageId", "MD5OfMessageBody"}
    [message] = out["got"]["Messages"]
    assert json.loads(message["Body"]) == {"order": 7}
    assert message["MessageId"] == out["sent"]["MessageId"]
    assert out["deleted"] == {}
    assert out["caught"]["Error"] == "Sqs.QueueDoesNotExistException"
    attrs = client(server, "sqs").get_queue_attributes(
        QueueUrl=out["url"]["QueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"  # the workflow deleted it


def test_lambda_actions_invoke_get_list_and_missing_function(server: LaminaProcess) -> None:
    lam = SDK + "lambda:"
    out = run(server, "sdk-lambda", {
        "Invoke": task(lam + "invoke", {"FunctionName": "hello-python",
                                        "Payload": {"name": "sdk"}}, "invoked", "Get"),
        "Get": task(lam + "getFunction", {"FunctionName": "hello-python"}, "got", "List"),
        "List": task(lam + "listFunctions", {}, "listed", "Missing"),
        "Missing": caught(lam + "invoke", {"FunctionName": "no-such-function"},
                          "Lambda.ResourceNotFoundException"),
        "Done": DONE,
    })  # fmt: skip
    assert out["invoked"]["StatusCode"] == 200
    assert json.loads(out["invoked"]["Payload"])["message"] == "Hello, sdk!"
    assert out["got"]["Configuration"]["FunctionName"] == "hello-python"
    assert out["got"]["Configuration"]["Runtime"] == "python3.11"
    names = [f["FunctionName"] for f in out["listed"]["Functions"]]
    assert "hello-python" in names
    assert out["caught"]["Error"] == "Lambda.ResourceNotFoundException"


def test_s3_actions_create_head_copy_list_and_missing_key(server: LaminaProcess) -> None:
    s3 = SDK + "s3:"
    out = run(server, "sdk-s3", {
        "Create": task(s3 + "createBucket", {"Bucket": "sdk-bucket"}, "created", "Put"),
        "Put": task(s3 + "putObject", {"Bucket": "sdk-bucket", "Key": "a.txt", "Body": "hello"},
                    "put", "Head"),
        "Head": task(s3 + "headObject", {"Bucket": "sdk-bucket", "Key": "a.txt"}, "head", "Copy"),
        "Copy": task(s3 + "copyObject", {"Bucket": "sdk-bucket", "Key": "b.txt",
                                         "CopySource": "sdk-bucket/a.txt"}, "copied", "Buckets"),
        "Buckets": task(s3 + "listBuckets", {}, "buckets", "NoHead"),
        "NoHead": {"Type": "Task", "Resource": s3 + "headObject", "Next": "Fail",
                   "Parameters": {"Bucket": "sdk-bucket", "Key": "nope.txt"},
                   "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.nohead",
                              "Next": "Missing"}]},
        "Fail": {"Type": "Fail"},
        "Missing": caught(s3 + "copyObject", {"Bucket": "sdk-bucket", "Key": "c.txt",
                                              "CopySource": "sdk-bucket/nope.txt"},
                          "S3.NoSuchKeyException"),
        "Done": DONE,
    })  # fmt: skip
    assert out["head"]["ContentLength"] == 5
    assert out["head"]["ETag"] == out["put"]["ETag"]
    assert out["head"]["LastModified"].endswith("Z")
    assert out["copied"]["CopyObjectResult"]["ETag"] == out["put"]["ETag"]
    assert "sdk-bucket" in [b["Name"] for b in out["buckets"]["Buckets"]]
    assert out["caught"]["Error"] == "S3.NoSuchKeyException"
    assert out["nohead"]["Error"] == "S3.NoSuchKeyException"
    body = client(server, "s3").get_object(Bucket="sdk-bucket", Key="b.txt")["Body"].read()
    assert body == b"hello"


def test_sfn_actions_start_describe_list_and_missing_execution(server: LaminaProcess) -> None:
    sfn = client(server, "stepfunctions")
    child = sfn.create_state_machine(
        name="sdk-child", roleArn=ROLE,
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    api = SDK + "sfn:"
    missing = child.replace(":stateMachine:", ":execution:") + ":nope"
    out = run(server, "sdk-sfn", {
        "Start": task(api + "startExecution", {"StateMachineArn": child, "Input": {"x": 1}},
                      "started", "Wait"),
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Describe"},
        "Describe": task(api + "describeExecution", {"ExecutionArn.$": "$.started.ExecutionArn"},
                         "described", "List"),
        "List": task(api + "listStateMachines", {}, "listed", "Token"),
        "Token": caught(api + "sendTaskSuccess", {"TaskToken": "bogus", "Output": "{}"},
                        "Sfn.TaskDoesNotExistException"),
        "Done": DONE,
    })  # fmt: skip
    assert out["started"]["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:"))
    assert out["started"]["StartDate"].endswith("Z")
    described = out["described"]
    assert described["Status"] == "SUCCEEDED"
    assert json.loads(described["Input"]) == {"x": 1}
    assert described["StateMachineArn"] == child
    assert child in [m["StateMachineArn"] for m in out["listed"]["StateMachines"]]
    assert out["caught"]["Error"] == "Sfn.TaskDoesNotExistException"
    assert missing  # the ARN form a describe of a missing execution would name


def test_put_events_reaches_a_rule_s_target_and_a_failed_entry_is_an_error(
    server: LaminaProcess,
) -> None:
    sqs, events = client(server, "sqs"), client(server, "events")
    url = sqs.create_queue(QueueName="sdk-events")["QueueUrl"]
    events.put_rule(Name="sdk-orders", EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule="sdk-orders", Targets=[
        {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:sdk-events", "InputPath": "$.detail"},
    ])  # fmt: skip
    entry = {"Source": "orders", "DetailType": "OrderPlaced", "Detail": {"id": 7}}
    bad = {"Source": "orders", "DetailType": "OrderPlaced", "Detail": [1]}  # not an object
    out = run(server, "sdk-events", {
        "Sdk": task(SDK + "eventbridge:putEvents", {"Entries": [entry]}, "sdk", "Optimized"),
        "Optimized": task("arn:aws:states:::events:putEvents", {"Entries": [entry]}, "opt",
                          "Bad"),
        "Bad": caught("arn:aws:states:::events:putEvents", {"Entries": [bad]},
                      "EventBridge.FailedEntry"),
        "Done": DONE,
    })  # fmt: skip
    for result in (out["sdk"], out["opt"]):
        assert result["FailedEntryCount"] == 0 and result["Entries"][0]["EventId"]
    assert "MalformedDetail" in out["caught"]["Cause"]
    bodies: list[Any] = []
    deadline = time.monotonic() + 60
    while len(bodies) < 2 and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies.extend(json.loads(m["Body"]) for m in got.get("Messages", []))
    assert bodies == [{"id": 7}, {"id": 7}]


def test_a_parameter_the_action_does_not_take_is_a_runtime_error(server: LaminaProcess) -> None:
    out = run(server, "sdk-bad-parameter", {
        "Send": caught(SDK + "sqs:getQueueUrl", {"QueueName": "q", "Nope": 1}, "States.Runtime"),
        "Done": DONE,
    })  # fmt: skip
    assert "Nope" in out["caught"]["Cause"]


def test_sts_cloudwatch_and_an_unsupported_service(server: LaminaProcess) -> None:
    out = run(server, "sdk-sts", {
        "Who": task(SDK + "sts:getCallerIdentity", {}, "who", "Metrics"),
        "Metrics": task(SDK + "cloudwatch:listMetrics", {"Namespace": "AWS/Lambda"}, "metrics",
                        "Dynamo"),
        "Dynamo": caught(SDK + "dynamodb:getItem", {"TableName": "t"}, "States.Runtime"),
        "Done": DONE,
    })  # fmt: skip
    assert out["who"]["Account"] == ACCOUNT and out["who"]["Arn"].startswith("arn:aws:")
    assert set(out["who"]) == {"Account", "Arn", "UserId"}
    assert "aws-sdk:dynamodb:getItem" in out["caught"]["Cause"]
    assert isinstance(out["metrics"]["Metrics"], list)


def test_an_sdk_action_waits_for_its_task_token(server: LaminaProcess) -> None:
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName="sdk-callbacks")["QueueUrl"]
    sfn = client(server, "stepfunctions")
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": SDK + "sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token"}}}}}  # fmt: skip
    arn = sfn.create_state_machine(
        name="sdk-callback", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    token = json.loads(got[0]["Body"])["token"]
    assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"answer": 42}')
    deadline = time.monotonic() + 30
    while (done := sfn.describe_execution(executionArn=ex))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"answer": 42})


def test_cloudwatch_put_metric_data_is_seen_by_list_metrics(server: LaminaProcess) -> None:
    datum = {"MetricName": "Orders", "Value": 3, "Unit": "Count",
             "Dimensions": [{"Name": "Shop", "Value": "north"}]}  # fmt: skip
    out = run(server, "sdk-metrics", {
        "Put": task(SDK + "cloudwatch:putMetricData",
                    {"Namespace": "Lamina/Workflows", "MetricData": [datum]}, "put", None),
    })  # fmt: skip
    assert out["put"] == {}
    metrics = client(server, "cloudwatch").list_metrics(Namespace="Lamina/Workflows")["Metrics"]
    assert [(m["MetricName"], m["Dimensions"]) for m in metrics] == [
        ("Orders", [{"Name": "Shop", "Value": "north"}])
    ]
