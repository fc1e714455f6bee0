"""The SAM examples (examples/sam) and public SAM templates, deployed with ``lamina up``.

Their functions are built the way each runtime needs (Python with requirements, Node.js
with package.json, Rust with cargo offline) and answer direct invokes; then their event
sources (queues, buckets, schedules, function URLs, API routes) trigger them.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from PIL import Image

from lamina.client.http import Client
from tests.integration.harness import LaminaProcess
from tests.sam.upcli import EXAMPLES, FIXTURES, kinds, up, wait_for

pytestmark = [pytest.mark.privileged, pytest.mark.slow]
CREDS = {"aws_access_key_id": "AKIDLAMINA", "aws_secret_access_key": "lamina-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sam-routes") / "routes.json"
    path.write_text('{"routes": []}\n')
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, routes_file: Path) -> Iterator[LaminaProcess]:
    env = {
        "LAMINA_HTTP_ROUTES_FILE": str(routes_file),
        "LAMINA_HTTP_ROUTES_PORT": str(free_port()),
        # The schedules' clock runs 60 times faster: rate(1 minute) fires every second.
        "LAMINA_SCHEDULE_TIME_SCALE": "60",
    }
    proc = LaminaProcess(tmp_path_factory.mktemp("sam-examples-data"), env).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def deployed(
    server: LaminaProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    """Every example deployed once, in place (their build caches persist under .lamina)."""
    reports: dict[str, dict[str, Any]] = {}
    port = server.endpoint.rsplit(":", 1)[1]
    routes = tmp_path_factory.mktemp("example-routes") / "routes.json"
    try:
        for name in ("http-api", "queue-worker", "scheduled-job", "thumbnailer"):
            template = EXAMPLES / name / "template.yaml"
            code, report = up(
                server, template, "--stack-name", f"e2e-{name}", "--routes-file", str(routes)
            )
            assert code == 0, report
            reports[name] = report
        yield reports
    finally:
        for state in EXAMPLES.glob(f"*/.lamina/stacks/e2e-*@127.0.0.1_{port}.json"):
            state.unlink()


def client(server: LaminaProcess, service: str) -> Any:
    extra = {"config": Config(s3={"addressing_style": "path"})} if service == "s3" else {}
    return boto3.client(
        service, endpoint_url=server.endpoint, region_name="us-east-1", **CREDS, **extra
    )


def invoke(server: LaminaProcess, name: str, payload: Any, qualifier: str | None = None) -> Any:
    extra = {"Qualifier": qualifier} if qualifier else {}
    out = server.lambda_client().invoke(
        FunctionName=name, Payload=json.dumps(payload).encode(), **extra
    )
    body = out["Payload"].read()
    assert "FunctionError" not in out, body
    return json.loads(body)


def logs(server: LaminaProcess, name: str) -> str:
    events = Client(server.endpoint).call("GET", f"/lamina/v1/functions/{name}/logs")["events"]
    return "\n".join(e["message"] for e in events)


def test_the_examples_deploy_with_their_builds(deployed: dict[str, dict[str, Any]]) -> None:
    assert kinds(deployed["http-api"], "created") == [
        ("function", "e2e-http-api-HealthFunction"),
        ("function", "e2e-http-api-ItemsFunction"),
        ("routes", "3 route(s)"),
    ]
    assert kinds(deployed["queue-worker"], "created") == [
        ("function", "e2e-queue-worker-EnqueueFunction"),
        ("function", "e2e-queue-worker-OrderWorker"),
        ("mapping", "OrderWorker.Orders"),
        ("queue", "e2e-queue-worker-OrdersDeadLetterQueue"),
        ("queue", "e2e-queue-worker-OrdersQueue"),
        ("routes", "1 route(s)"),
    ]
    assert kinds(deployed["scheduled-job"], "created") == [
        ("function", "e2e-scheduled-job-ReportFunction"),
        ("queue", "e2e-scheduled-job-JobFailuresQueue"),
        ("rule", "e2e-scheduled-job-ReportFunction-EveryMinute"),
        ("schedule", "default/e2e-scheduled-job-ReportFunction-Nightly"),
    ]
    assert kinds(deployed["thumbnailer"], "created") == [
        ("bucket", "e2e-thumbnailer-thumbnails"),
        ("bucket", "e2e-thumbnailer-uploadsbucket"),
        ("function", "e2e-thumbnailer-ThumbnailFunction"),
        ("notifications", "e2e-thumbnailer-uploadsbucket"),
    ]
    for report in deployed.values():
        assert not report["failed"] and not report["unsupported"], report


def test_the_example_functions_answer(server: LaminaProcess, deployed: dict[str, Any]) -> None:
    created = invoke(
        server,
        "e2e-http-api-ItemsFunction",
        {"requestContext": {"http": {"method": "POST"}}, "body": '{"name": "lamp"}'},
    )
    assert created["statusCode"] == 201 and json.loads(created["body"])["name"] == "lamp"
    # Node.js behind the alias AutoPublishAlias made: partial batch failures.
    batch = {
        "Records": [
            {"messageId": "m1", "body": '{"amount": 5}'},
            {"messageId": "m2", "body": '{"amount": -1}'},
        ]
    }
    answer = invoke(server, "e2e-queue-worker-OrderWorker", batch, "live")
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    # Rust, built offline by cargo into a bootstrap.
    report = invoke(server, "e2e-scheduled-job-ReportFunction", {"job": "nightly-report"})
    assert (report["job"], report["report"]) == ("nightly-report", "usage")
    # runs counts this environment's invokes: the stack's schedules (at 60x) may have fired it
    # already, so this invoke is one of them, not necessarily the first.
    assert report["runs"] >= 1


def test_public_templates_deploy_and_run(server: LaminaProcess, tmp_path: Path) -> None:
    url_project = tmp_path / "lambda-function-url"
    shutil.copytree(FIXTURES / "serverless-patterns" / "lambda-function-url", url_project)
    code, report = up(server, url_project / "template.yaml", "--stack-name", "furl")
    assert code == 0, report
    assert invoke(server, "furl-FURLFunction", {}) == {"body": "Hello World", "statusCode": 200}
    assert report["outputs"]["FunctionURLEndpoint"].startswith(server.endpoint + "/lambda-url/")

    inline = tmp_path / "http-api-python"
    shutil.copytree(FIXTURES / "serverless-patterns" / "apigw-http-api-lambda-python", inline)
    code, report = up(server, inline / "template.yaml", "--stack-name", "inline")
    assert code == 0, report
    assert any("python3.14 is deployed as python3.13" in w for w in report["warnings"])
    assert invoke(server, "inline-ApiFunction", {})["body"] == "Hello World! This is the HTTP API"

    queue = tmp_path / "sqs-lambda"
    shutil.copytree(FIXTURES / "serverless-patterns" / "sqs-lambda", queue)
    (queue / "src").mkdir()
    (queue / "src" / "app.js").write_text(
        "exports.handler = async (event) => { console.log('got', event.Records.length); };\n"
    )
    code, report = up(server, queue / "template.yaml", "--stack-name", "sqsl")
    assert code == 0, report
    assert kinds(report, "created") == [
        ("function", "sqsl-QueueConsumerFunction"),
        ("mapping", "QueueConsumerFunction.MySQSEvent"),
        ("queue", "sqsl-MySqsQueue"),
    ]
    sqs = client(server, "sqs")
    sqs.send_message(QueueUrl=report["outputs"]["SQSqueueURL"], MessageBody="hello")
    wait_for(lambda: "got 1" in logs(server, "sqsl-QueueConsumerFunction"), 60, "the consumer")


def test_queue_and_bucket_events_trigger_the_examples(
    server: LaminaProcess, deployed: dict[str, Any]
) -> None:
    sqs = client(server, "sqs")
    url = deployed["queue-worker"]["outputs"]["OrdersQueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"amount": 12.5}))
    worker = "e2e-queue-worker-OrderWorker"
    wait_for(lambda: "processed 1 order(s), total 12.5" in logs(server, worker), 60, "the worker")

    s3 = client(server, "s3")
    image = io.BytesIO()
    Image.new("RGB", (400, 200), (10, 120, 200)).save(image, "PNG")
    uploads = deployed["thumbnailer"]["outputs"]["UploadsBucketName"]
    s3.put_object(Bucket=uploads, Key="photos/sea.png", Body=image.getvalue())
    s3.put_object(Bucket=uploads, Key="notes/skip.png", Body=image.getvalue())  # no match

    def made() -> bool:
        listed = s3.list_objects_v2(Bucket="e2e-thumbnailer-thumbnails").get("Contents", [])
        return any(o["Key"] == "photos/sea.png" for o in listed)

    wait_for(made, 120, "the thumbnail")
    thumb = s3.get_object(Bucket="e2e-thumbnailer-thumbnails", Key="photos/sea.png")["Body"].read()
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG" and img.size == (128, 64)
    listed = s3.list_objects_v2(Bucket="e2e-thumbnailer-thumbnails").get("Contents", [])
    assert [o["Key"] for o in listed] == ["photos/sea.png"]


def test_schedules_and_function_urls(server: LaminaProcess, deployed: dict[str, Any]) -> None:
    # rate(1 minute) with its Input, on a clock 60 times faster: the Rust job runs.
    wait_for(
        lambda: 'job "heartbeat" done' in logs(server, "e2e-scheduled-job-ReportFunction"),
        60,
        "the scheduled job",
    )
    # ScheduleV2 is an EventBridge Scheduler schedule, window and retry policy included.
    nightly = client(server, "scheduler").get_schedule(
        Name="e2e-scheduled-job-ReportFunction-Nightly"
    )
    assert (nightly["ScheduleExpression"], nightly["State"]) == ("cron(0 3 * * ? *)", "ENABLED")
    assert nightly["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    target = nightly["Target"]
    assert target["Arn"].endswith(":function:e2e-scheduled-job-ReportFunction")
    assert json.loads(target["Input"]) == {"job": "nightly-report"}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    config = server.lambda_client().get_function_event_invoke_config(
        FunctionName="e2e-scheduled-job-ReportFunction"
    )
    assert config["MaximumRetryAttempts"] == 1 and config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        ":e2e-scheduled-job-JobFailuresQueue"
    )

    health_url = deployed["http-api"]["outputs"]["HealthUrl"]
    with urllib.request.urlopen(health_url, timeout=30) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok", "stage": "dev", "version": 1}


def test_api_routes_are_served_after_a_restart(
    server: LaminaProcess, routes_file: Path, tmp_path: Path
) -> None:
    project = tmp_path / "http-api"
    shutil.copytree(EXAMPLES / "http-api", project, ignore=shutil.ignore_patterns(".lamina"))
    template = project / "template.yaml"
    code, report = up(server, template, "--stack-name", "routed", "--routes-file", str(routes_file))
    assert code == 0 and ("routes", "3 route(s)") in kinds(report, "created"), report
    doc = json.loads(routes_file.read_text())
    assert {r["route"] for r in doc["routes"]} == {"GET /items", "GET /items/{id}", "POST /items"}
    # Lamina reads its routes file at start.
    server.stop()
    server.start()
    port = server.env["LAMINA_HTTP_ROUTES_PORT"]
    base = f"http://127.0.0.1:{port}"

    def listing() -> Any:
        with urllib.request.urlopen(f"{base}/items", timeout=30) as resp:
            return json.loads(resp.read())

    wait_for(lambda: _answers(listing), 30, "the routes listener")
    assert listing() == {"greeting": "hello", "stage": "dev", "items": []}
    code, report = up(server, template, "--stack-name", "routed", "--routes-file", str(routes_file))
    assert code == 0 and not report["created"] and not report["changed"], report


def _answers(call: Any) -> bool:
    try:
        call()
    except OSError:
        return False
    return True
