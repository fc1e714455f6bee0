"""The event sources wired to a real Lamina: real functions in real sandboxes, real clients.

Until the API mounts the event sources itself, this test does the wiring the way the
composition root will (see docs/events.md): the invoke coroutine goes through Lamina's
scheduler, and one HTTP listener serves the event sources' faces on a shared port with
:meth:`EventSources.mounts`' rule. Functions reach it through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    EventBridgeModel,
)
from botocore.config import Config
from PIL import Image

from lamina.api.arns import function_arn
from lamina.config import Settings
from lamina.events.sources import EventSources
from lamina.models.function_url import FunctionUrlConfig
from lamina.models.invocation import InvokeResult
from lamina.scheduler.driver import InvokeRequest
from lamina.server import Lamina, start
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, bound_port, serve
from tests.events.servers import LoopThread
from tests.integration.harness import python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ZIPS = ROOT / "build" / "examples" / "events"
REGION, ACCOUNT = "us-east-1", "000000000000"
CREDS = {"aws_access_key_id": "AKIDLAMINA", "aws_secret_access_key": "lamina-secret"}
URL_ID = "e2eurl0000000000000000000000000a"


@dataclass
class Stack:
    loop: LoopThread
    lamina: Lamina
    sources: EventSources
    events_url: str  # the shared port of the event sources
    urls: dict[str, FunctionUrlConfig]

    def client(self, service: str) -> Any:
        extra: dict[str, Any] = {}
        if service == "s3":
            extra["config"] = Config(s3={"addressing_style": "path"})
        url = self.lamina.endpoint if service == "lambda" else self.events_url
        return boto3.client(service, endpoint_url=url, region_name=REGION, **CREDS, **extra)

    def deploy(self, name: str, zip_name: str, env: dict[str, str] | None = None) -> None:
        # AWS_ENDPOINT_URL is what the runtime will set itself once wired (docs/events.md);
        # the credentials are the runtime's own dummy ones.
        variables = {"AWS_ENDPOINT_URL": self.events_url, **(env or {})}
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
            Code={"ZipFile": (ZIPS / f"{zip_name}.zip").read_bytes()},
            Timeout=30,
            MemorySize=512,
            Environment={"Variables": variables},
        )


def wait_until(check: Callable[[], bool], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    subprocess.run(["bash", str(ROOT / "examples/events/build.sh")], check=True, cwd=ROOT)
    data = tmp_path_factory.mktemp("events-e2e")
    settings = Settings(
        port=0,
        data_dir=data,
        async_retry_delay_1_s=0.2,
        async_retry_delay_2_s=0.2,
        async_fsync=False,
        http_routes_file=ROOT / "examples/events/http-api/routes.json",
        http_routes_port=0,
    )
    loop = LoopThread()
    lamina = loop.run(start(settings))

    async def invoke(name: str, qualifier: str | None, payload: bytes, rid: str) -> InvokeResult:
        cfg = lamina.functions.get(name, qualifier)
        arn = function_arn(REGION, ACCOUNT, cfg.name, qualifier)
        return await lamina.scheduler.invoke(InvokeRequest(cfg, payload, arn, rid))

    def resolve(name: str, qualifier: str | None) -> str:
        lamina.functions.get(name, qualifier)
        return function_arn(REGION, ACCOUNT, name)

    urls: dict[str, FunctionUrlConfig] = {}
    sources = EventSources.open(settings, invoke, resolve_function=resolve, find_url=urls.get)
    loop.run(sources.start())
    mounts = sources.mounts()

    def dispatch(req: Request, conn: HttpConnection) -> Any:
        for select, handler, _service in mounts:
            if select(req):
                return handler(req, conn)
        return Response(404, b"not an event-source request")

    server = loop.run(serve(dispatch, "127.0.0.1", 0, max_body=64 << 20))
    stack = Stack(loop, lamina, sources, f"http://127.0.0.1:{bound_port(server)}", urls)
    yield stack
    loop.call(server.close)
    loop.run(sources.close())
    loop.run(lamina.close())
    loop.stop()


def test_thumbnails_are_made_for_uploaded_images(stack: Stack) -> None:
    stack.deploy("thumbnailer", "thumbnail")
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="photos")
    s3.create_bucket(Bucket="photos-thumbnails")
    s3.put_bucket_notification_configuration(
        Bucket="photos",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": function_arn(REGION, ACCOUNT, "thumbnailer"),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}},
                }
            ]
        },
    )
    image = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(image, "PNG")
    s3.put_object(Bucket="photos", Key="holiday/beach day.png", Body=image.getvalue())

    def made() -> bool:
        listed = s3.list_objects_v2(Bucket="photos-thumbnails").get("Contents", [])
        return any(o["Key"] == "holiday/beach day.png" for o in listed)

    wait_until(made)
    thumb = s3.get_object(Bucket="photos-thumbnails", Key="holiday/beach day.png")["Body"].read()
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG" and max(img.size) <= 128 and img.size == (128, 96)


def test_a_queue_consumer_reports_partial_batch_failures(stack: Stack) -> None:
    stack.deploy("orders", "queue-consumer")
    sqs = stack.client("sqs")
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    url = sqs.create_queue(
        QueueName="orders",
        Attributes={
            "VisibilityTimeout": "2",
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq",
                    "maxReceiveCount": 2,
                }
            ),
        },
    )["QueueUrl"]
    amounts = [10, 20, -1, 30, 40]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"id": i, "amount": a})}
            for i, a in enumerate(amounts)
        ],
    )
    status, mapping = stack.sources.mapping_ops.create(
        {
            "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders",
            "FunctionName": "orders",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    assert status == 202

    def dead_lettered() -> bool:
        a = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return bool(a["Attributes"]["ApproximateNumberOfMessages"] == "1")

    wait_until(dead_lettered)
    bad = sqs.receive_message(QueueUrl=dlq)["Messages"][0]
    assert json.loads(bad["Body"])["amount"] == -1
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"
    got = stack.sources.mapping_ops.get(mapping["UUID"])[1]
    assert got["State"] == "Enabled" and got["LastProcessingResult"] == "OK"


def test_a_schedule_runs_the_job_and_its_result_reaches_a_destination(stack: Stack) -> None:
    stack.deploy("nightly", "scheduled-job")
    sqs = stack.client("sqs")
    results = sqs.create_queue(QueueName="job-results")["QueueUrl"]
    stack.sources.event_invoke_config_ops.put(
        "nightly",
        None,
        {
            "DestinationConfig": {
                "OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:job-results"}
            }
        },
    )
    events = stack.client("events")
    events.put_rule(Name="nightly-cleanup", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(
        Rule="nightly-cleanup",
        Targets=[{"Id": "job", "Arn": function_arn(REGION, ACCOUNT, "nightly")}],
    )
    # Fire the 03:00 tick now instead of waiting for it (the runner's clock is injected).
    rule = stack.sources.rule_store.rules["nightly-cleanup"]
    tomorrow_3am = (int(rule.anchor // 86_400) + 1) * 86_400 + 3 * 3600
    stack.loop.run(stack.sources.schedules.run_once(tomorrow_3am + 5))
    got: list[dict[str, Any]] = []

    def arrived() -> bool:
        got.extend(sqs.receive_message(QueueUrl=results).get("Messages", []))
        return bool(got)

    wait_until(arrived)
    record = json.loads(got[0]["Body"])
    assert record["requestContext"]["condition"] == "Success"
    event = record["requestPayload"]
    EventBridgeModel(**event)
    assert event["detail-type"] == "Scheduled Event"
    assert record["responsePayload"]["rule"] == "nightly-cleanup"
    assert record["responsePayload"]["tick"].endswith("T03:00:00Z")


def test_http_api_routes_and_a_function_url_serve_the_example_api(stack: Stack) -> None:
    stack.deploy("items-api", "http-api")
    routes = f"http://127.0.0.1:{stack.sources.routes_port}"
    with urllib.request.urlopen(f"{routes}/items/1", timeout=30) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {"id": "1", "name": "teapot"}
    req = urllib.request.Request(
        f"{routes}/items", b'{"name": "kettle"}', {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201 and resp.headers["location"] == "/items/2"
        assert resp.headers.get_all("set-cookie") == ["last-created=2; Path=/"]
    try:
        urllib.request.urlopen(f"{routes}/nothing", timeout=30)
    except urllib.error.HTTPError as err:
        assert err.code == 404
    # the same function behind a function URL (routeKey $default: the example answers 404
    # with the path it saw, which shows rawPath is relative to the URL)
    stack.urls[URL_ID] = FunctionUrlConfig("items-api", None, URL_ID, "NONE")
    try:
        urllib.request.urlopen(f"{stack.events_url}/lambda-url/{URL_ID}/items?x=1", timeout=30)
    except urllib.error.HTTPError as err:
        assert err.code == 404
        assert json.loads(err.read()) == {"message": "no route for GET /items"}


def test_the_event_a_function_url_delivers_parses_as_powertools_expects(stack: Stack) -> None:
    stack.client("lambda").create_function(
        FunctionName="url-probe",
        Runtime="python3.11",
        Handler="app.handler",
        Role=f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
        Code={"ZipFile": python_zip("def handler(event, context):\n    return event\n")},
    )
    url_id = "p" * 32
    stack.urls[url_id] = FunctionUrlConfig("url-probe", None, url_id, "NONE")
    req = urllib.request.Request(
        f"{stack.events_url}/lambda-url/{url_id}/hello?q=1", b"hi", {"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        event = json.loads(resp.read())
    parsed = APIGatewayProxyEventV2Model(**event)
    assert parsed.rawPath == "/hello" and parsed.body == "hi"
