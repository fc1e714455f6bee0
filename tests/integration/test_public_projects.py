"""Public example projects, unmodified, deployed with ``lamina up`` and driven as their
READMEs say, with the AWS CLI.

Each project is vendored byte for byte under ``tests/sam/projects/<name>/published/``, next
to the ``SOURCE`` file that names its repository, path, commit and licence (see
tests/sam/projects/README.md). ``$LAMINA_PUBLIC_PROJECTS``, when set, points at checkouts
(``<owner>/<repo>``) to use instead, e.g. to try a newer commit. Each project is copied to a
temporary directory first, so the vendored copy stays as published.

The AWS CLI is v1 (the dev dependency): it has no ``aws logs tail``, so the README steps
that tail logs read them with ``filter-log-events`` / ``get-log-events``; and its SQS
commands ignore ``AWS_ENDPOINT_URL``, so every command is given ``--endpoint-url``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from PIL import Image

from tests.integration.harness import ROOT, LaminaProcess, aws_client
from tests.sam.upcli import nothing_done, up
from tests.sam.upcli import wait_for as wait_for_fast
from tests.unavailable import unavailable

PROJECTS = ROOT / "tests" / "sam" / "projects"
CHECKOUTS = os.environ.get("LAMINA_PUBLIC_PROJECTS")
AWS = str(Path(sys.executable).parent / "aws")
SAM = ROOT / "build" / "sam-venv" / "bin" / "sam"  # `make sam-cli` (its own boto3 pins)


def wait_for(check: Callable[[], bool], limit_s: float, what: str) -> None:
    """Poll ``check`` about once a second: each check runs AWS CLI processes."""

    def paced() -> bool:
        if check():
            return True
        time.sleep(1)
        return False

    wait_for_fast(paced, limit_s, what)


def source(name: str) -> dict[str, str]:
    """A project's SOURCE file: ``key: value`` lines (continuation lines are indented)."""
    fields: dict[str, str] = {}
    key = ""
    for line in (PROJECTS / name / "SOURCE").read_text().splitlines():
        if line.startswith(" ") and key:
            fields[key] += " " + line.strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def project(name: str, tmp: Path) -> Path:
    """A copy of the public project ``name``: its vendored directory as published, or the
    directory in the checkout under ``$LAMINA_PUBLIC_PROJECTS`` when that is set."""
    src = source(name)
    published = PROJECTS / name / "published"
    if CHECKOUTS:
        published = Path(CHECKOUTS) / src["repo"] / src["path"]
        assert published.is_dir(), f"{name}: $LAMINA_PUBLIC_PROJECTS has no {src['repo']}"
    copy = tmp / Path(src["path"]).name
    shutil.copytree(published, copy)
    return copy


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    env = {
        # Schedules' clock 60 times faster: rate(5 minutes) fires every 5 s.
        "LAMINA_SCHEDULE_TIME_SCALE": "60",
        # Asynchronous retries of failed events without Lambda's 1 and 2 minute pauses.
        "LAMINA_ASYNC_RETRY_DELAY_1_S": "0.1",
        "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.1",
    }
    proc = LaminaProcess(tmp_path_factory.mktemp("public-projects-data"), env).start()
    try:
        yield proc
    finally:
        proc.stop()


def aws(server: LaminaProcess, *args: str, cwd: Path | None = None) -> Any:
    """One AWS CLI command against Lamina with LocalStack-style credentials; its JSON."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    }
    proc = subprocess.run(
        [AWS, "--endpoint-url", server.endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"aws {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip().startswith(("{", "[")) else proc.stdout


def log_messages(server: LaminaProcess, function: str, pattern: str = "") -> list[str]:
    """``aws logs filter-log-events`` on the function's log group."""
    extra = ("--filter-pattern", pattern) if pattern else ()
    out = aws(
        server, "logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{function}", *extra
    )
    return [str(e["message"]) for e in out["events"]]


def has_log_group(server: LaminaProcess, function: str) -> bool:
    groups = aws(server, "logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/")
    return f"/aws/lambda/{function}" in {g["logGroupName"] for g in groups["logGroups"]}


def sam_logs(server: LaminaProcess, home: Path, until: str, *args: str) -> list[str]:
    """``sam logs <args>`` as the README runs it (the SAM CLI of ``make sam-cli``, with
    ``AWS_ENDPOINT_URL``), read until a line containing ``until`` comes (with ``--tail``,
    it is stopped then)."""
    if not SAM.exists():
        unavailable(f"the SAM CLI is not installed at {SAM} (run `make sam-cli`)")
    env = {
        "PATH": f"{SAM.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "SAM_CLI_TELEMETRY": "0",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    tail = subprocess.Popen(
        [str(SAM), "logs", *args],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read(out: IO[str]) -> None:
        for line in out:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    assert tail.stdout is not None
    threading.Thread(target=read, args=(tail.stdout,), daemon=True).start()
    printed: list[str] = []
    try:
        while not any(until in line for line in printed):
            line = lines.get(timeout=120)
            assert line is not None, f"sam logs ended: {printed}"
            printed.append(line)
    finally:
        tail.terminate()
        tail.wait(timeout=30)
    return printed


def streams_of(server: LaminaProcess, function: str) -> set[str]:
    """The names of the function's log streams (``sam logs`` starts each event with one)."""
    out = aws(server, "logs", "describe-log-streams", "--log-group-name", f"/aws/lambda/{function}")
    return {str(s["logStreamName"]) for s in out["logStreams"]}


def not_created(report: dict[str, Any]) -> list[str]:
    return [str(item["what"]) for item in report["unsupported"]]


def test_s3_lambda_resizing_python(server: LaminaProcess, tmp_path: Path) -> None:
    """S3 → Python with Pillow: uploading a JPEG writes its half-size copy."""
    path = project("s3-lambda-resizing-python", tmp_path)
    code, report = up(
        server,
        path / "template.yaml",
        "--stack-name",
        "resizer",
        "--parameter-overrides",
        "SourceBucketName=resizer-source",
        "DestinationBucketName=resizer-destination",
    )
    assert code == 0, report
    # The template names a graphicsmagick layer of another account; its code does not use it.
    assert not_created(report) == [
        "ResizerFunction.Layers arn:aws:lambda:us-east-1:175033217214:layer:graphicsmagick:2"
    ]
    image = path / "events" / "white_dog.jpeg"
    if not image.is_file():  # not vendored (see its SOURCE): a JPEG made in its place
        image.parent.mkdir(exist_ok=True)
        Image.new("RGB", (640, 480), (200, 180, 150)).save(image, "JPEG")
    with Image.open(image) as original:
        width, height = original.size
    aws(server, "s3", "cp", "./events/white_dog.jpeg", "s3://resizer-source", cwd=path)

    def listed() -> str:
        return str(aws(server, "s3", "ls", "s3://resizer-destination"))

    wait_for(lambda: "resized-white_dog.jpeg" in listed(), 120, "the resized image")
    out = tmp_path / "resized.jpeg"
    aws(server, "s3", "cp", "s3://resizer-destination/resized-white_dog.jpeg", str(out))
    with Image.open(out) as resized:
        assert resized.size == (width // 2, height // 2)


def test_sqs_lambda_nodejs(server: LaminaProcess, tmp_path: Path) -> None:
    """SQS → Node.js ESM: ten messages are processed and logged; one that says "error" is
    reported back as a batch item failure, never logged as processed."""
    path = project("sqs-lambda-nodejs-sam", tmp_path)
    code, report = up(server, path / "template.yaml", "--stack-name", "sqsnode")
    assert code == 0 and not report["unsupported"], report
    url = report["outputs"]["ProcessingQueueURL"]
    function = report["outputs"]["ProcessorFunctionName"]
    assert url == f"{server.endpoint}/000000000000/sqsnode-queue"
    for i in range(1, 11):
        body = json.dumps({"message": f"Test message-{i}"}, separators=(", ", ": "))
        aws(server, "sqs", "send-message", "--queue-url", url, "--message-body", body)
    aws(server, "sqs", "send-message", "--queue-url", url, "--message-body", "an error")

    def processed() -> list[str]:
        if not has_log_group(server, function):
            return []
        return log_messages(server, function, '"Processed message"')

    wait_for(lambda: len(processed()) == 10, 120, "ten processed messages")
    texts = sorted(line.rsplit("Processed message: ", 1)[1] for line in processed())
    assert texts == sorted(f'{{"message": "Test message-{i}"}}' for i in range(1, 11))
    assert not log_messages(server, function, '"Processed message: an error"')
    # The README's `sam logs -n ENTER_YOUR_CONSUMER_FUNCTION_NAME`: today's SAM CLI wants
    # the stack with a name (the function's logical id then), as it would against AWS.
    printed = sam_logs(
        server, tmp_path, "Test message-10", "-n", "ProcessorFunction", "--stack-name", "sqsnode"
    )
    assert sum("Processed message: " in line for line in printed) >= 1, printed


def test_eventbridge_scheduler_with_dead_letter_queues(
    server: LaminaProcess, tmp_path: Path
) -> None:
    """An AWS::Scheduler::Schedule runs the function; once it is made to fail (the README's
    update-function-configuration), its retries end in the Lambda execution DLQ."""
    path = project("eventbridge-schedule-to-lambda-dlq-sam-python", tmp_path)
    code, report = up(server, path / "template.yaml", "--stack-name", "sched")
    assert code == 0, report
    outputs = report["outputs"]
    assert outputs["ScheduleName"] == "sched-schedule"
    assert outputs["ScheduleArn"] == (
        "arn:aws:scheduler:us-east-1:000000000000:schedule/default/sched-schedule"
    )
    schedule = aws(server, "scheduler", "get-schedule", "--name", outputs["ScheduleName"])
    assert (schedule["ScheduleExpression"], schedule["State"]) == ("rate(5 minutes)", "ENABLED")
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3,
        "MaximumEventAgeInSeconds": 3600,
    }
    function = outputs["ScheduledFunctionName"]

    def completed() -> int:
        if not has_log_group(server, function):
            return 0
        return len(log_messages(server, function, '"Completed Successfully"'))

    wait_for(lambda: completed() >= 1, 120, "a scheduled run")
    failure = "Variables={LOG_LEVEL=INFO,SIMULATE_FAILURE=true}"
    aws(
        server,
        "lambda",
        "update-function-configuration",
        "--function-name",
        function,
        "--environment",
        failure,
    )
    dlq = outputs["LambdaExecutionDLQUrl"]
    received: list[dict[str, Any]] = []

    def dead_lettered() -> bool:
        out = aws(
            server, "sqs", "receive-message", "--queue-url", dlq, "--message-attribute-names", "All"
        )
        received.extend(out.get("Messages", []) if isinstance(out, dict) else [])
        return bool(received)

    wait_for(dead_lettered, 180, "an event in the Lambda execution DLQ")
    attributes = received[0]["MessageAttributes"]
    assert "Simulated failure" in attributes["ErrorMessage"]["StringValue"]
    errors = log_messages(server, function, '"Simulated failure for testing"')
    assert errors, "the failing runs logged their error"


def test_eventbridge_scheduled_lambda(server: LaminaProcess, tmp_path: Path) -> None:
    """A Schedule event at rate(1 minute): the log stream shows Hello World."""
    path = project("eventbridge-scheduled-lambda", tmp_path)
    code, report = up(server, path / "template.yaml", "--stack-name", "cron")
    assert code == 0 and not report["unsupported"], report
    group = "/aws/lambda/cron-ScheduledFunction"

    def hello() -> bool:
        """The newest stream (as the console shows them) has Hello World."""
        if not has_log_group(server, "cron-ScheduledFunction"):
            return False
        streams = aws(
            server,
            "logs",
            "describe-log-streams",
            "--log-group-name",
            group,
            "--order-by",
            "LastEventTime",
            "--descending",
        )["logStreams"]
        if not streams:
            return False
        stream = streams[0]["logStreamName"]
        events = aws(
            server, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream
        )["events"]
        return any(e["message"] == "Hello World" for e in events)

    wait_for(hello, 60, "Hello World in the log stream")


def test_apigw_rest_api_with_a_stage(server: LaminaProcess, tmp_path: Path) -> None:
    """The execute-api Output is Lamina's URL for the API's Prod stage and answers; the
    access-log settings are listed as not created rather than dropped."""
    path = project("apigw-cloudwatch", tmp_path)
    code, report = up(server, path / "template.yaml", "--stack-name", "cwapi")
    assert code == 0, report
    url = report["outputs"]["ApiEndpoint"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/Prod"), url
    with urllib.request.urlopen(url + "/", timeout=30) as resp:
        assert json.loads(resp.read()) == {"message": "Request received by Lambda function"}
    assert "MyApi.AccessLogSetting" in not_created(report)
    groups = aws(server, "logs", "describe-log-groups", "--log-group-name-prefix", "cwapi-")
    assert [g["logGroupName"] for g in groups["logGroups"]] == [report["outputs"]["LogGroupName"]]


def test_sam_init_hello_powertools(server: LaminaProcess, tmp_path: Path) -> None:
    """``sam init``'s Powertools hello world: rendered as sam init renders it, deployed, its
    /Prod/hello answered, and Logger's one JSON line found with a JSON filter pattern."""
    rendered = render(project("sam-init-hello-powertools", tmp_path), tmp_path / "rendered")
    code, report = up(server, rendered / "template.yaml")
    assert code == 0, report
    function = "sam-app-powertools-HelloWorldFunction"
    url = report["outputs"]["HelloWorldApi"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/Prod/hello"), url
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert json.loads(resp.read()) == {"message": "hello world"}
    pattern = '{ $.level = "INFO" && $.service = "PowertoolsHelloWorld" }'
    wait_for(lambda: bool(log_messages(server, function, pattern)), 30, "Logger's line")
    (line,) = log_messages(server, function, pattern)
    logged = json.loads(line)
    assert logged["message"] == "Hello world API - HTTP 200"
    assert logged["function_name"] == function and logged["cold_start"] is True
    # Metrics writes its EMF documents to the log, ColdStart and the handler's own metric.
    emf = [json.loads(m) for m in log_messages(server, function, "{ $._aws.Timestamp > 0 }")]
    assert sorted(m for doc in emf for m in doc if m in ("ColdStart", "HelloWorldInvocations")) == [
        "ColdStart",
        "HelloWorldInvocations",
    ]
    # Tracing: Active: Tracer's subsegments (the handler's, the route's capture_method)
    # are in the invocation's X-Ray trace, under Lamina's segment of the function.
    xray = aws_client(server, "xray")
    names: set[str] = set()

    def traced() -> bool:
        now = time.time()
        summaries = xray.get_trace_summaries(
            StartTime=now - 600, EndTime=now + 60, FilterExpression=f'service("{function}")'
        )["TraceSummaries"]
        ids = [s["Id"] for s in summaries][:5]  # BatchGetTraces takes 5 at a time
        traces = xray.batch_get_traces(TraceIds=ids)["Traces"] if ids else []
        for doc in (json.loads(s["Document"]) for t in traces for s in t["Segments"]):
            if doc.get("origin") == "AWS::Lambda::Function":
                names.update(sub["name"] for sub in doc.get("subsegments", []))
        return {"## lambda_handler"} <= names

    wait_for(traced, 30, "Tracer's subsegments")
    # The README's `sam logs -n HelloWorldFunction --stack-name sam-app-powertools --tail`.
    printed = sam_logs(
        server,
        tmp_path,
        "Hello world API - HTTP 200",
        "-n",
        "HelloWorldFunction",
        "--stack-name",
        "sam-app-powertools",
        "--tail",
    )
    assert streams_of(server, function) & {line.split(" ", 1)[0] for line in printed}, printed


def render(template: Path, out: Path, **context: Any) -> Path:
    """A ``sam init`` template rendered as ``sam init`` renders it: cookiecutter, with the
    architecture the user picked (x86_64) and the template's defaults otherwise."""
    from cookiecutter.main import cookiecutter

    extra = {"architectures": {"value": ["x86_64"]}, **context}
    return Path(
        cookiecutter(str(template), no_input=True, output_dir=str(out), extra_context=extra)
    )


def test_sam_init_nodejs_s3_with_sdk_v3(server: LaminaProcess, tmp_path: Path) -> None:
    """``sam init``'s Node.js 22 S3 template: @aws-sdk/client-s3 v3 from npm reads the
    uploaded JSON object from Lamina's S3 and logs it."""
    rendered = render(
        project("sam-init-nodejs-s3", tmp_path), tmp_path / "rendered", project_name="sam-app"
    )
    code, report = up(
        server, rendered / "template.yaml", "--parameter-overrides", "AppBucketName=sam-app-json"
    )
    assert code == 0 and not report["unsupported"], report
    document = tmp_path / "order.json"
    document.write_text('{"order": 42, "item": "lamp"}')
    aws(server, "s3", "cp", str(document), "s3://sam-app-json/orders/order.json")
    aws(server, "s3", "cp", str(document), "s3://sam-app-json/orders/order.txt")  # no match
    function = "sam-app-S3JsonLoggerFunction"

    def done() -> bool:
        return has_log_group(server, function) and bool(
            log_messages(server, function, '"Complete!"')
        )

    wait_for(done, 120, "the S3 event to be logged")
    (logged,) = log_messages(server, function, '"lamp"')
    assert logged.split("\t")[2:] == ["INFO", '{"order": 42, "item": "lamp"}']
    assert not log_messages(server, function, '?"Error calling" ?"Error consuming"')
    # The README's `sam logs -n S3JsonLoggerFunction --stack-name sam-app --tail`.
    printed = sam_logs(
        server,
        tmp_path,
        "Complete!",
        *("-n", "S3JsonLoggerFunction", "--stack-name", "sam-app", "--tail"),
    )
    assert any('{"order": 42, "item": "lamp"}' in line for line in printed), printed
    assert streams_of(server, function) & {line.split(" ", 1)[0] for line in printed}, printed


def test_the_public_powertools_layer_is_rebuilt(server: LaminaProcess, tmp_path: Path) -> None:
    """Powertools' own examples name its public layer; ``up`` builds a layer of that name
    from PyPI's package and the function imports Logger from /opt/python."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        textwrap.dedent(
            """\
            import aws_lambda_powertools
            from aws_lambda_powertools import Logger

            logger = Logger()


            def handler(event, context):
                logger.info("from the layer")
                return {"file": aws_lambda_powertools.__file__}
            """
        )
    )
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Transform: AWS::Serverless-2016-10-31
            Globals:
              Function:
                Runtime: python3.12
                Environment: {Variables: {POWERTOOLS_SERVICE_NAME: payment}}
                Layers:
                  - !Sub arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:3
            Resources:
              Payment:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: src, Handler: app.handler}
            """
        )
    )
    code, report = up(server, tmp_path / "template.yaml", "--stack-name", "ptlayer")
    assert code == 0 and not report["unsupported"], report
    assert any("rebuilt as layer AWSLambdaPowertoolsPythonV3" in n for n in report["warnings"])
    result = server.invoke("ptlayer-Payment", {})
    assert result.function_error is None, result.payload
    assert result.json()["file"].startswith("/opt/python/aws_lambda_powertools/")
    lines = [json.loads(x) for x in result.log.splitlines() if x.startswith("{")]
    assert [(x["message"], x["service"]) for x in lines] == [("from the layer", "payment")]
    name = "AWSLambdaPowertoolsPythonV3-python312-x86_64"
    layers = aws(server, "lambda", "list-layer-versions", "--layer-name", name)["LayerVersions"]
    assert len(layers) == 1 and "017000801446" in layers[0]["Description"]
    # The rebuilt layer is the same package the next time: nothing to publish or update.
    code, again = up(server, tmp_path / "template.yaml", "--stack-name", "ptlayer")
    assert code == 0 and nothing_done(again), again
