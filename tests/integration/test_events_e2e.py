"""Every event source through a real ``lamina serve``, driven by the real clients.

One server (a subprocess, real sandboxes) for the module. Functions are created with
boto3 and call back into Lamina with the boto3 the runtime provides (``AWS_ENDPOINT_URL``
and credentials come from Lamina). The events they receive are checked with the
aws-lambda-powertools parser models; HTTP goes over plain ``urllib``.

Schedules run on a clock 60 times faster than real time (``LAMINA_SCHEDULE_TIME_SCALE``),
so ``rate(1 minute)`` fires every second with minute-spaced event times.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    EventBridgeModel,
    S3Model,
    SqsModel,
)
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.events.live import (
    ACCOUNT,
    REGION,
    ROLE,
    client,
    function_arn,
    queue_arn,
    receive_all,
    routes_endpoint,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# -- the functions -------------------------------------------------------------------------

HTTP_ECHO = """\
import base64
import json


def handler(event, context):
    path = event["rawPath"]
    if path == "/event":
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(event)}
    if path == "/cookies":
        return {"statusCode": 201, "headers": {"x-answer": "yes", "content-type": "text/plain"},
                "cookies": ["a=1; Path=/", "b=2; Secure; HttpOnly"], "body": "made"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "isBase64Encoded": True, "body": base64.b64encode(bytes(range(256))).decode()}
    if path == "/plain":
        return {"hello": "world", "n": [1, 2]}
    if path == "/fail":
        raise RuntimeError("boom")
    return "just a string"
"""

# Writes every S3 event it gets to the "results" bucket with the provided boto3.
S3_RECORDER = """\
import json

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        s3.put_object(Bucket="results", Key="s3/" + key + ".json", Body=json.dumps(event),
                      ContentType="application/json")
    return {"records": len(event["Records"])}
"""

# An SQS consumer: records each batch to S3, fails the messages whose body says so.
SQS_CONSUMER = """\
import json

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    s3.put_object(Bucket="results", Key="sqs/" + context.aws_request_id + ".json",
                  Body=json.dumps(event))
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                if json.loads(r["body"]).get("fail")]
    return {"batchItemFailures": failures}
"""

TICK = """\
def handler(event, context):
    return {"rule": event["resources"][0].rsplit("/", 1)[-1], "time": event["time"]}
"""

FLAKY = """\
def handler(event, context):
    raise ValueError("cannot process order " + str(event.get("order")))
"""

ROUTE_PROBE = """\
import json


def handler(event, context):
    if event.get("version") == "2.0":
        return {"statusCode": 200, "body": json.dumps(event)}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"x-multi": ["one", "two"]}, "body": json.dumps(event)}
"""

ROUTES = {
    "apiId": "e2e-api",
    "payloadFormatVersion": "1.0",
    "routes": [
        {"route": "GET /v1/items/{id}", "function": "route-probe"},
        {"route": "POST /v1/items", "function": "route-probe"},
        {"route": "GET /v2/things/{id}", "function": "route-probe", "payloadFormatVersion": "2.0"},
    ],
}


class Stack:
    def __init__(self, server: LaminaProcess, external: LaminaProcess) -> None:
        self.server = server
        self.external = external
        self.endpoint = server.endpoint
        self.routes = routes_endpoint(server)

    def client(self, service: str) -> Any:
        return client(self.endpoint, service)

    def deploy(self, name: str, source: str, memory: int = 512) -> None:
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": zip_source(source)},
            Timeout=30,
            MemorySize=memory,
        )


EXTERNAL_ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("events-e2e")
    routes = root / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    # Another SQS-compatible service for the external-queue mapping: a second Lamina that
    # plays another account; the main one reads it with boto3, as it would read AWS.
    external = start_server(root / "external", {"LAMINA_ACCOUNT_ID": EXTERNAL_ACCOUNT})
    server = start_server(
        root / "data",
        {
            "LAMINA_ASYNC_RETRY_DELAY_1_S": "0.3",
            "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.3",
            "LAMINA_ASYNC_THROTTLE_MAX_S": "0.3",
            "LAMINA_SCHEDULE_TIME_SCALE": "60",
            "LAMINA_HTTP_ROUTES_FILE": str(routes),
            "LAMINA_HTTP_ROUTES_PORT": "0",
            "LAMINA_SQS_ENDPOINTS": f"{EXTERNAL_ACCOUNT}={external.endpoint}",
            # what boto3 in the server signs external requests with (its usual chain)
            "AWS_ACCESS_KEY_ID": "AKIDLAMINA",
            "AWS_SECRET_ACCESS_KEY": "lamina-secret",
        },
    )
    stack = Stack(server, external)
    stack.client("s3").create_bucket(Bucket="results")
    yield stack
    server.stop()
    external.stop()


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """(status, headers, body) of a plain HTTP request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data, headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def results(stack: Stack, prefix: str) -> list[Any]:
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket="results", Prefix=prefix).get("Contents", [])
    return [
        json.loads(s3.get_object(Bucket="results", Key=o["Key"])["Body"].read()) for o in listed
    ]


# -- function URLs -------------------------------------------------------------------------


def test_a_function_url_serves_payload_2_0_and_maps_responses(stack: Stack) -> None:
    stack.deploy("echo", HTTP_ECHO)
    lam = stack.client("lambda")
    url = lam.create_function_url_config(FunctionName="echo", AuthType="NONE")["FunctionUrl"]
    assert url.startswith(stack.endpoint + "/lambda-url/") and url.endswith("/")

    status, _, body = fetch(
        url + "event?x=1&x=2&y=%20z",
        b'{"order": 7}',
        {"Content-Type": "application/json", "Cookie": "session=abc; theme=dark"},
    )
    assert status == 200
    event = json.loads(body)
    parsed = APIGatewayProxyEventV2Model(**event)
    assert parsed.rawPath == "/event" and parsed.rawQueryString == "x=1&x=2&y=%20z"
    assert parsed.queryStringParameters == {"x": "1,2", "y": " z"}
    assert parsed.cookies == ["session=abc", "theme=dark"]
    assert parsed.requestContext.http.method == "POST"
    assert event["routeKey"] == "$default" and event["body"] == '{"order": 7}'
    assert event["isBase64Encoded"] is False

    status, headers, body = fetch(url + "cookies")
    assert (status, body, headers["x-answer"]) == (201, b"made", "yes")
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; Secure; HttpOnly"]

    status, headers, body = fetch(url + "binary")
    assert status == 200 and body == bytes(range(256))
    assert headers["content-type"] == "application/octet-stream"

    status, headers, body = fetch(url + "plain")  # not a response object: a JSON body
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"hello": "world", "n": [1, 2]}

    status, _, body = fetch(url + "anything")
    assert (status, body) == (200, b"just a string")

    status, _, _ = fetch(url + "fail")
    assert status == 502

    # the same URL addressed by Host (a wildcard DNS name), the path passed through as sent
    url_id = url.rstrip("/").rsplit("/", 1)[-1]
    host = f"{url_id}.lambda-url.{REGION}.lamina.test"
    conn = http.client.HTTPConnection(stack.endpoint.removeprefix("http://"), timeout=60)
    conn.request("GET", "/event?via=host", headers={"Host": host})
    resp = conn.getresponse()
    event = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and event["rawPath"] == "/event"
    assert event["headers"]["host"] == host and event["rawQueryString"] == "via=host"

    # a binary request body reaches the function base64-encoded
    status, _, body = fetch(url + "event", bytes(range(256)), {"Content-Type": "image/png"})
    event = json.loads(body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == bytes(range(256))


def _signed(url: str, secret: str) -> dict[str, str]:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDLAMINA", secret), "lambda", REGION).add_auth(request)
    return dict(request.headers)


def test_an_aws_iam_function_url_needs_a_valid_sigv4_signature(stack: Stack) -> None:
    stack.deploy("secure-echo", HTTP_ECHO)
    lam = stack.client("lambda")
    url = lam.create_function_url_config(FunctionName="secure-echo", AuthType="AWS_IAM")[
        "FunctionUrl"
    ]
    status, _, _ = fetch(url + "event")
    assert status == 403  # unsigned
    bad = _signed(url + "event", "lamina-secret")
    bad["Authorization"] = bad["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    status, _, _ = fetch(url + "event", headers=bad)
    assert status == 403  # a malformed signature
    # This server runs in dev mode, where any well-formed signature is accepted, as every
    # local emulator does (with LAMINA_ACCESS_KEYS it must verify: tests/api/test_sigv4.py).
    status, _, body = fetch(url + "event", headers=_signed(url + "event", "any-secret"))
    assert status == 200
    event = json.loads(body)
    APIGatewayProxyEventV2Model(**event)
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "AKIDLAMINA" and iam["accountId"] == ACCOUNT


# -- API routes ----------------------------------------------------------------------------


def test_api_routes_deliver_payload_1_0_and_2_0_events(stack: Stack) -> None:
    stack.deploy("route-probe", ROUTE_PROBE)
    status, headers, body = fetch(
        stack.routes + "/v1/items/42?tag=a&tag=b", headers={"X-Trace": "t1"}
    )
    assert status == 200
    assert headers.get_all("x-multi") == ["one", "two"]
    event = json.loads(body)
    v1 = APIGatewayProxyEventModel(**event)
    assert v1.resource == "/v1/items/{id}" and v1.path == "/v1/items/42"
    assert v1.httpMethod == "GET" and v1.pathParameters == {"id": "42"}
    assert v1.multiValueQueryStringParameters == {"tag": ["a", "b"]}
    assert v1.queryStringParameters == {"tag": "b"}  # API Gateway keeps the last value
    assert event["headers"]["x-trace"] == "t1"  # an HTTP API lower-cases header names

    status, _, body = fetch(stack.routes + "/v1/items", b'{"name": "kettle"}')
    assert status == 200 and APIGatewayProxyEventModel(**json.loads(body)).body == (
        '{"name": "kettle"}'
    )

    status, _, body = fetch(stack.routes + "/v2/things/7")
    v2 = APIGatewayProxyEventV2Model(**json.loads(body))
    assert v2.routeKey == "GET /v2/things/{id}" and v2.pathParameters == {"id": "7"}

    status, _, _ = fetch(stack.routes + "/v1/nothing")
    assert status == 404


# -- object storage ------------------------------------------------------------------------


def test_an_upload_triggers_a_function_that_writes_back_with_boto3(stack: Stack) -> None:
    stack.deploy("s3-recorder", S3_RECORDER)
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_notification_configuration(
        Bucket="uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": function_arn("s3-recorder"),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "in/"},
                                {"Name": "suffix", "Value": ".csv"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    s3.put_object(Bucket="uploads", Key="in/skipped.txt", Body=b"not a csv")
    s3.put_object(Bucket="uploads", Key="in/report 1.csv", Body=b"a,b\n1,2\n")

    wait_until(lambda: bool(results(stack, "s3/")), what="the function's result object")
    [event] = results(stack, "s3/")
    parsed = S3Model(**event)
    [record] = parsed.Records
    assert record.eventName == "ObjectCreated:Put"
    assert record.s3.bucket.name == "uploads"
    obj = record.s3.object
    assert obj is not None
    assert obj.key == "in/report+1.csv"  # S3 URL-encodes keys, a space as +
    assert obj.size == 8
    head = s3.head_object(Bucket="uploads", Key="in/report 1.csv")
    assert obj.eTag == head["ETag"].strip('"')


def test_removals_are_routed_to_a_queue_in_s3_s_event_shape(stack: Stack) -> None:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    removals = sqs.create_queue(QueueName="removals")["QueueUrl"]
    s3.create_bucket(Bucket="archive")
    s3.put_bucket_notification_configuration(
        Bucket="archive",
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn("removals"), "Events": ["s3:ObjectRemoved:*"]}
            ]
        },
    )
    s3.put_object(Bucket="archive", Key="old.log", Body=b"x")
    s3.delete_object(Bucket="archive", Key="old.log")
    [message] = receive_all(sqs, removals, wait_s=5)
    [record] = S3Model(**message["json"]).Records
    assert record.eventName == "ObjectRemoved:Delete" and record.s3.bucket.name == "archive"


def test_an_external_store_s_webhook_notification_triggers_the_function(stack: Stack) -> None:
    # MinIO-style: the store posts S3 records (with its own extra fields) to the webhook.
    key = "ext/from-minio.csv"
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "s3:ObjectCreated:Put",
        "userIdentity": {"principalId": "minio"},
        "requestParameters": {"sourceIPAddress": "10.0.0.5"},
        "responseElements": {"x-amz-request-id": "17C0", "x-minio-origin-endpoint": "x"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {
                "name": "ext",
                "ownerIdentity": {"principalId": "minio"},
                "arn": "arn:aws:s3:::ext",
            },
            "object": {"key": key, "size": 3, "eTag": "abc", "sequencer": "17C0"},
        },
        "source": {"host": "10.0.0.5", "port": "", "userAgent": "MinIO"},
    }
    status, _, _ = fetch(
        stack.endpoint + "/lamina/v1/s3-events/s3-recorder?suffix=.csv",
        json.dumps(
            {"EventName": "s3:ObjectCreated:Put", "Key": "ext/" + key, "Records": [record]}
        ).encode(),
        {"Content-Type": "application/json"},
    )
    assert status in (200, 202, 204)
    wait_until(lambda: bool(results(stack, "s3/" + key)), what="the webhook's delivery")
    [event] = results(stack, "s3/" + key)
    [parsed] = S3Model(**event).Records
    assert parsed.eventName == "ObjectCreated:Put" and parsed.s3.bucket.name == "ext"


# -- queues --------------------------------------------------------------------------------


def test_a_mapping_reports_partial_batch_failures_and_the_failure_reaches_the_dlq(
    stack: Stack,
) -> None:
    stack.deploy("sqs-consumer", SQS_CONSUMER, memory=1024)
    sqs = stack.client("sqs")
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            # longer than a cold start's batch, or the batch comes back while still running
            "VisibilityTimeout": "3",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": queue_arn("work-dlq"), "maxReceiveCount": "2"}
            ),
        },
    )["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"n": i, "fail": i == 2})} for i in range(5)
        ],
    )
    lam = stack.client("lambda")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn("work"),
        FunctionName="sqs-consumer",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert mapping["State"] in ("Creating", "Enabled")

    def dead_lettered() -> bool:
        a = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return bool(a["Attributes"]["ApproximateNumberOfMessages"] == "1")

    wait_until(dead_lettered, what="the failing message in the DLQ")
    [bad] = receive_all(sqs, dlq)
    assert bad["json"] == {"n": 2, "fail": True}
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"

    batches = [SqsModel(**event) for event in results(stack, "sqs/")]
    seen: dict[str, list[int]] = {}
    for batch in batches:
        for record in batch.Records:
            body = json.loads(str(record.body))
            assert record.eventSourceARN == queue_arn("work")
            seen.setdefault(str(body["n"]), []).append(
                int(record.attributes.ApproximateReceiveCount)
            )
    # the good messages once; the failing one came back after its visibility timeout
    assert {n: sorted(c) for n, c in seen.items()} == {
        "0": [1],
        "1": [1],
        "2": [1, 2],
        "3": [1],
        "4": [1],
    }
    got = lam.get_event_source_mapping(UUID=mapping["UUID"])
    assert got["State"] == "Enabled"
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["UUID"] in {
        m["UUID"]
        for m in lam.list_event_source_mappings(FunctionName="sqs-consumer")["EventSourceMappings"]
    }
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


# -- schedules and destinations --------------------------------------------------------------


def test_schedule_rules_fire_their_target_and_the_result_reaches_a_destination(
    stack: Stack,
) -> None:
    stack.deploy("tick", TICK, memory=256)
    sqs = stack.client("sqs")
    ticks = sqs.create_queue(QueueName="ticks")["QueueUrl"]
    lam = stack.client("lambda")
    lam.put_function_event_invoke_config(
        FunctionName="tick",
        DestinationConfig={"OnSuccess": {"Destination": queue_arn("ticks")}},
    )
    events = stack.client("events")
    events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
    events.put_rule(Name="even-minutes", ScheduleExpression="cron(0/2 * * * ? *)")
    for rule in ("every-minute", "even-minutes"):
        events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": function_arn("tick")}])

    records: list[dict[str, Any]] = []

    def fired() -> bool:
        records.extend(m["json"] for m in receive_all(sqs, ticks, wait_s=1))
        rules = [r["responsePayload"]["rule"] for r in records]
        return rules.count("every-minute") >= 2 and rules.count("even-minutes") >= 1

    wait_until(fired, what="two rate ticks and a cron tick")  # ~4 s at 60x
    for rule in ("every-minute", "even-minutes"):
        events.disable_rule(Name=rule)

    by_rule: dict[str, list[datetime]] = {}
    for record in records:
        assert record["version"] == "1.0"
        assert record["requestContext"]["condition"] == "Success"
        assert record["requestContext"]["functionArn"] == function_arn("tick") + ":$LATEST"
        event = EventBridgeModel(**record["requestPayload"])
        assert event.detail_type == "Scheduled Event" and event.source == "aws.events"
        rule = record["responsePayload"]["rule"]
        assert event.resources == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"]
        by_rule.setdefault(rule, []).append(event.time)
    rate = sorted(by_rule["every-minute"])
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(rate)} == {60.0}
    assert all(t.minute % 2 == 0 and t.second == 0 for t in by_rule["even-minutes"])
    described = events.describe_rule(Name="every-minute")
    assert described["State"] == "DISABLED" and described["ScheduleExpression"] == (
        "rate(1 minute)"
    )


def test_a_failing_event_invoke_is_retried_then_its_record_goes_to_on_failure(
    stack: Stack,
) -> None:
    stack.deploy("flaky", FLAKY, memory=256)
    sqs = stack.client("sqs")
    failures = sqs.create_queue(QueueName="failures")["QueueUrl"]
    lam = stack.client("lambda")
    put = lam.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn("failures")}},
    )
    assert put["MaximumRetryAttempts"] == 1
    got = lam.get_function_event_invoke_config(FunctionName="flaky")
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn("failures")

    out = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=b'{"order": 9}')
    assert out["StatusCode"] == 202
    request_id = out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    records: list[dict[str, Any]] = []

    def recorded() -> bool:
        records.extend(m["json"] for m in receive_all(sqs, failures, wait_s=1))
        return bool(records)

    wait_until(recorded, what="the failure record")
    [record] = records
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": function_arn("flaky") + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == {"order": 9}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "cannot process order 9"

    lam.delete_function_event_invoke_config(FunctionName="flaky")
    assert (
        lam.list_function_event_invoke_configs(FunctionName="flaky")["FunctionEventInvokeConfigs"]
        == []
    )


def test_a_mapping_polls_an_external_sqs_compatible_endpoint(stack: Stack) -> None:
    stack.deploy("ext-consumer", SQS_CONSUMER.replace('"sqs/"', '"ext/"'), memory=1024)
    remote = client(stack.external.endpoint, "sqs")
    url = remote.create_queue(QueueName="incoming", Attributes={"VisibilityTimeout": "5"})[
        "QueueUrl"
    ]
    remote.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    arn = f"arn:aws:sqs:{REGION}:{EXTERNAL_ACCOUNT}:incoming"
    lam = stack.client("lambda")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="ext-consumer")
    wait_until(lambda: bool(results(stack, "ext/")), what="the external message's batch")
    [batch] = [SqsModel(**e) for e in results(stack, "ext/")]
    [record] = batch.Records
    assert record.eventSourceARN == arn and json.loads(str(record.body)) == {"n": 1}

    def consumed() -> bool:
        a = remote.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return bool(
            a["ApproximateNumberOfMessages"] == "0"
            and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    wait_until(consumed, what="the message to be deleted from the external queue")
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_throttled_event_invoke_waits_and_is_delivered_once_capacity_returns(
    stack: Stack,
) -> None:
    stack.deploy("throttled", "def handler(event, context):\n    return event\n", 256)
    sqs = stack.client("sqs")
    done = sqs.create_queue(QueueName="throttled-done")["QueueUrl"]
    lam = stack.client("lambda")
    lam.put_function_event_invoke_config(
        FunctionName="throttled",
        DestinationConfig={"OnSuccess": {"Destination": queue_arn("throttled-done")}},
    )
    lam.put_function_concurrency(FunctionName="throttled", ReservedConcurrentExecutions=0)
    out = lam.invoke(FunctionName="throttled", InvocationType="Event", Payload=b'{"k": "a"}')
    assert out["StatusCode"] == 202  # accepted even though nothing may run now
    assert receive_all(sqs, done, wait_s=2) == []  # throttled, retried with backoff
    lam.delete_function_concurrency(FunctionName="throttled")
    [message] = receive_all(sqs, done, wait_s=10)
    record = message["json"]
    assert record["requestContext"]["condition"] == "Success"
    # throttles are not attempts: the function ran once
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"] == {"k": "a"}


def test_a_function_created_from_an_object_in_the_embedded_s3(stack: Stack) -> None:
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="code")
    s3.put_object(Bucket="code", Key="fn/app.zip", Body=zip_source(TICK))
    lam = stack.client("lambda")
    lam.create_function(
        FunctionName="from-s3",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"S3Bucket": "code", "S3Key": "fn/app.zip"},
    )
    event = {"resources": ["arn:aws:events:us-east-1:0:rule/r"], "time": "now"}
    out = lam.invoke(FunctionName="from-s3", Payload=json.dumps(event).encode())
    assert json.loads(out["Payload"].read()) == {"rule": "r", "time": "now"}
