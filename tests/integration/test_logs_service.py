"""CloudWatch Logs on Lamina's port: boto3 and the AWS CLI read the functions' logs.

A real server (signed mode, so the ``logs`` SigV4 scope is checked), a function that logs
text and JSON lines, then the standard tools: ``aws logs filter-log-events`` with a JSON
filter pattern, boto3's DescribeLogGroups / DescribeLogStreams / GetLogEvents /
FilterLogEvents paginators, retention, custom groups and PutLogEvents.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.harness import (
    AWS,
    LaminaProcess,
    aws_cli,
    aws_client,
    cli_json,
    python_zip,
    signed_lamina,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

KEY, SECRET = "AKIDLOGSTEST", "logs-secret"
GROUP = "/aws/lambda/logs-fn"
CODE = """
import json

def handler(event, context):
    print("plain text line", event["n"])
    print(json.dumps({"level": event["level"], "latency": event["latency"], "n": event["n"]}))
    return event["n"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with signed_lamina(tmp_path_factory.mktemp("logs-service"), KEY, SECRET, "r") as proc:
        yield proc


def client(server: LaminaProcess, service: str, **config: Any) -> Any:
    return aws_client(server, service, KEY, SECRET, **config)


@pytest.fixture(scope="module")
def invoked(server: LaminaProcess) -> list[int]:
    lam = client(server, "lambda")
    lam.create_function(
        FunctionName="logs-fn",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/r",
        Code={"ZipFile": python_zip(CODE)},
    )
    calls = [("INFO", 12, 1), ("ERROR", 250, 2), ("WARN", 90, 3), ("ERROR", 40, 4)]
    for level, latency, n in calls:
        event = {"level": level, "latency": latency, "n": n}
        out = lam.invoke(FunctionName="logs-fn", Payload=json.dumps(event).encode())
        assert out["Payload"].read() == str(n).encode()
    # The log store flushes on a ~100 ms timer: wait until the last line is readable.
    logs = client(server, "logs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = logs.filter_log_events(logGroupName=GROUP, filterPattern='"plain text line 4"')
        if events["events"]:
            break
        time.sleep(0.1)
    return [n for _, _, n in calls]


def aws_logs(server: LaminaProcess, home: Path, *args: str) -> Any:
    return cli_json(aws_cli(server, home, "logs", *args, key=KEY, secret=SECRET))


def test_the_aws_cli_filters_a_functions_log_with_a_json_pattern(
    server: LaminaProcess, invoked: list[int], tmp_path: Path
) -> None:
    out = aws_logs(
        server,
        tmp_path,
        "filter-log-events",
        "--log-group-name",
        GROUP,
        "--filter-pattern",
        '{ $.level = "ERROR" && $.latency > 100 }',
    )
    assert [json.loads(e["message"])["n"] for e in out["events"]] == [2]
    out = aws_logs(
        server,
        tmp_path,
        "filter-log-events",
        "--log-group-name",
        GROUP,
        "--filter-pattern",
        '{ $.level = "ERROR" }',
    )
    assert [json.loads(e["message"])["n"] for e in out["events"]] == [2, 4]
    assert all(e["logStreamName"].endswith("]" + e["logStreamName"][-32:]) for e in out["events"])


def test_boto3_reads_groups_streams_and_events(server: LaminaProcess, invoked: list[int]) -> None:
    logs = client(server, "logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/logs")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"
    assert groups[0]["storedBytes"] > 0
    streams = logs.describe_log_streams(
        logGroupName=GROUP, orderBy="LastEventTime", descending=True
    )["logStreams"]
    assert streams and streams[0]["lastEventTimestamp"] >= streams[0]["firstEventTimestamp"]
    stream = streams[0]["logStreamName"]
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    messages = [e["message"] for e in events["events"]]
    # A stream is one environment's: it begins with its cold start's INIT_START, then START.
    assert messages[0].startswith("INIT_START Runtime Version: python:3.12.v")
    assert messages[1].startswith("START RequestId: ")
    assert any(m.startswith("REPORT RequestId: ") for m in messages)
    # Paging forward one event at a time visits the same events, then repeats its token.
    token, seen = None, []
    for _ in range(len(messages) + 1):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=1, **kwargs)
        if page["nextForwardToken"] == token:
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == messages
    # FilterLogEvents through boto3's paginator, three events a page.
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, filterPattern="?ERROR ?WARN", PaginationConfig={"PageSize": 3}
    )
    found = [e["message"] for page in pages for e in page["events"]]
    assert len(found) == 3 and all('"level": "' in m for m in found)
    # Time bounds: nothing after now, everything from the first event on.
    later = int(time.time() * 1000) + 3_600_000
    assert logs.filter_log_events(logGroupName=GROUP, startTime=later)["events"] == []
    first = min(s["firstEventTimestamp"] for s in streams)
    everything = logs.filter_log_events(logGroupName=GROUP, startTime=first, endTime=later)
    assert len(everything["events"]) >= 4 * 5  # START, 2 lines, END, REPORT per invoke
    terms = logs.filter_log_events(logGroupName=GROUP, filterPattern='"plain text" -START')
    assert [m["message"] for m in terms["events"]] == [f"plain text line {n}" for n in invoked]


def test_errors_are_cloudwatchs(server: LaminaProcess, invoked: list[int]) -> None:
    logs = client(server, "logs")
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(logGroupName="/aws/lambda/nope")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.level = }")
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as info:
        logs.put_retention_policy(logGroupName=GROUP, retentionInDays=2)
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    bad = boto3.client(
        "logs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key="wrong",
        config=Config(retries={"max_attempts": 0}),
    )
    with pytest.raises(ClientError) as info:
        bad.describe_log_groups()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_retention_is_kept_and_shown(server: LaminaProcess, invoked: list[int]) -> None:
    logs = client(server, "logs")
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=7)
    group = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]
    assert group["retentionInDays"] == 7
    # Events inside the retention are still there; old ones would not be shown.
    assert logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")["events"]
    logs.delete_retention_policy(logGroupName=GROUP)
    group = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]
    assert "retentionInDays" not in group


def test_custom_groups_streams_and_put_log_events(server: LaminaProcess) -> None:
    logs = client(server, "logs")
    logs.create_log_group(logGroupName="/my/app")
    with pytest.raises(ClientError) as info:
        logs.create_log_group(logGroupName="/my/app")
    assert info.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    logs.create_log_stream(logGroupName="/my/app", logStreamName="worker_1")
    now = int(time.time() * 1000)
    answer = logs.put_log_events(
        logGroupName="/my/app",
        logStreamName="worker_1",
        logEvents=[
            {"timestamp": now - 30 * 86_400_000, "message": "ancient"},
            {"timestamp": now, "message": "hello"},
            {"timestamp": now + 1, "message": '{"level": "ERROR"}'},
        ],
    )
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    streams = logs.describe_log_streams(logGroupName="/my/app")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["worker_1"]
    events = logs.get_log_events(logGroupName="/my/app", logStreamName="worker_1")["events"]
    assert [e["message"] for e in events] == ["hello", '{"level": "ERROR"}']
    found = logs.filter_log_events(logGroupName="/my/app", filterPattern="{ $.level = ERROR }")
    assert [e["message"] for e in found["events"]] == ['{"level": "ERROR"}']
    logs.delete_log_group(logGroupName="/my/app")
    names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert "/my/app" not in names


def test_log_group_tags(server: LaminaProcess) -> None:
    logs = client(server, "logs")
    logs.create_log_group(logGroupName="/tagged/app", tags={"team": "a"})
    arn = logs.describe_log_groups(logGroupNamePrefix="/tagged/app")["logGroups"][0]["arn"]
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}
    logs.tag_resource(resourceArn=arn.removesuffix(":*"), tags={"env": "dev"})
    logs.untag_resource(resourceArn=arn.removesuffix(":*"), tagKeys=["team"])
    assert logs.list_tags_log_group(logGroupName="/tagged/app")["tags"] == {"env": "dev"}
    with pytest.raises(ClientError) as info:
        logs.list_tags_for_resource(
            resourceArn="arn:aws:logs:us-east-1:000000000000:log-group:/nope"
        )
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_flooding_function_is_held_to_the_groups_size_cap(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"LAMINA_LOG_GROUP_MAX_MB": "1", "LAMINA_LOG_SWEEP_S": "0.2"}
    proc = LaminaProcess(tmp_path_factory.mktemp("logs-cap"), env).start()
    try:
        flood = (
            "def handler(e, c):\n"
            "    for i in range(30000):\n"
            "        print(f'line {i:06d} ' + 'x' * 90)\n"
            "    print('the last line')\n"
        )
        proc.create("flood", python_zip(flood), runtime="python3.12", Timeout=60)
        assert proc.invoke("flood", {}, tail=False).function_error is None
        logs = boto3.client(
            "logs",
            endpoint_url=proc.endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIDLAMINA",
            aws_secret_access_key="lamina-secret",
        )
        group = "/aws/lambda/flood"
        deadline = time.monotonic() + 30
        stored = None
        while time.monotonic() < deadline:
            stored = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
            if (
                stored["storedBytes"] <= 1 << 20
                and logs.filter_log_events(logGroupName=group, filterPattern='"the last line"')[
                    "events"
                ]
            ):
                break
            time.sleep(0.2)
        assert stored is not None and stored["storedBytes"] <= 1 << 20, stored
        # The newest lines were kept, the oldest went.
        assert logs.filter_log_events(logGroupName=group, filterPattern='"the last line"')["events"]
        assert not logs.filter_log_events(logGroupName=group, filterPattern='"line 000000 "')[
            "events"
        ]
    finally:
        proc.stop()


def test_a_function_logs_to_the_group_its_logging_config_names(server: LaminaProcess) -> None:
    lam, logs = client(server, "lambda"), client(server, "logs")
    code = "import os\ndef handler(e, c):\n    print('to the shared group')\n"
    code += "    return os.environ['AWS_LAMBDA_LOG_GROUP_NAME']\n"
    created = lam.create_function(
        FunctionName="logs-custom",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/r",
        Code={"ZipFile": python_zip(code)},
        LoggingConfig={"LogFormat": "Text", "LogGroup": "/shared/app-logs"},
    )
    assert created["LoggingConfig"]["LogGroup"] == "/shared/app-logs"
    out = lam.invoke(FunctionName="logs-custom", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "/shared/app-logs"
    # The service flushes the log store before it reads: the invoke's lines are there.
    found = logs.filter_log_events(
        logGroupName="/shared/app-logs", filterPattern='"to the shared group"'
    )["events"]
    assert len(found) == 1
    assert not logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/logs-custom")["logGroups"]
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(
            FunctionName="logs-custom", LoggingConfig={"LogGroup": "bad group!"}
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"


ARN = re.compile(r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}")


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_cold_start_begins_its_stream_with_init_start_and_a_warm_one_adds_none(
    server: LaminaProcess, log_format: str
) -> None:
    """Lambda's INIT_START, once per environment before its first START, in the function's
    log format; not in ``LogType=Tail`` (the invoke's own log)."""
    lam, logs = client(server, "lambda"), client(server, "logs")
    name = f"logs-init-{log_format.lower()}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/r",
        Code={"ZipFile": python_zip("def handler(e, c):\n    print('ran', e['n'])\n")},
        LoggingConfig={"LogFormat": log_format},
    )
    tails = []
    for n in (1, 2):  # one after the other: the second reuses the first's environment
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode(), LogType="Tail")
        tails.append(base64.b64decode(out["LogResult"]).decode())
    assert all("INIT_START" not in t and "initStart" not in t for t in tails), tails
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1, streams
    stream = streams[0]["logStreamName"]
    messages = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)[
            "events"
        ]
    ]
    assert sum("INIT_START" in m or "platform.initStart" in m for m in messages) == 1, messages
    first = messages[0]
    if log_format == "Text":
        head, sep, arn = first.partition("\tRuntime Version ARN: ")
        assert sep and re.fullmatch(r"INIT_START Runtime Version: python:3\.12\.v\d+", head)
        assert ARN.fullmatch(arn), first
        version = head.rpartition(" ")[2]
    else:
        event = json.loads(first)
        assert event["type"] == "platform.initStart"
        record = event["record"]
        assert record == {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": record["runtimeVersion"],
            "runtimeVersionArn": record["runtimeVersionArn"],
            "functionName": name,
            "functionVersion": "$LATEST",
        }
        assert re.fullmatch(r"python:3\.12\.v\d+", record["runtimeVersion"])
        assert ARN.fullmatch(record["runtimeVersionArn"])
        version, arn = record["runtimeVersion"], record["runtimeVersionArn"]
    if log_format == "Text":
        assert "START RequestId: " in messages[1]
    else:  # the JSON format's START is the platform.start record
        assert json.loads(messages[1])["type"] == "platform.start"
    # The same runtime on the same server: the version the other format's test saw.
    seen = _versions.setdefault("python3.12", (version, arn))
    assert seen == (version, arn)


_versions: dict[str, tuple[str, str]] = {}


def test_start_live_tail_streams_new_matching_lines(
    server: LaminaProcess, invoked: list[int]
) -> None:
    """boto3's ``start_live_tail``: the session starts, then each update brings the lines
    written since, filtered by the JSON pattern; lines from before the session never come.
    (botocore puts ``stream-`` in front of the endpoint's host for this operation;
    ``inject_host_prefix=False`` keeps it on Lamina's address.)"""
    logs = client(server, "logs", inject_host_prefix=False)
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    pattern = '{ $.level = "ERROR" }'
    answer = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern=pattern)
    events = iter(answer["responseStream"])
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == [arn]
    assert start["logEventFilterPattern"] == pattern
    assert start["requestId"] == answer["ResponseMetadata"]["RequestId"]
    lam = client(server, "lambda")
    for level, n in (("INFO", 10), ("ERROR", 11), ("ERROR", 12)):
        event = {"level": level, "latency": 5, "n": n}
        lam.invoke(FunctionName="logs-fn", Payload=json.dumps(event).encode())
    seen: list[dict[str, Any]] = []
    for updates, item in enumerate(events, 1):
        update = item["sessionUpdate"]
        assert update["sessionMetadata"] == {"sampled": False}
        seen += update["sessionResults"]
        if len(seen) >= 2 or updates == 30:  # one update a second: 30 s at the most
            break
    answer["responseStream"].close()
    assert [json.loads(e["message"])["n"] for e in seen] == [11, 12]
    assert {e["logGroupIdentifier"] for e in seen} == {arn}
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert {e["logStreamName"] for e in seen} <= {s["logStreamName"] for s in streams}
    assert all(e["timestamp"] == e["ingestionTime"] > 0 for e in seen)


def test_start_live_tail_refuses_what_cloudwatch_refuses(
    server: LaminaProcess, invoked: list[int]
) -> None:
    logs = client(server, "logs", inject_host_prefix=False)
    with pytest.raises(ClientError) as info:
        logs.start_live_tail(logGroupIdentifiers=["/aws/lambda/no-such-fn"])
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        logs.start_live_tail(
            logGroupIdentifiers=[GROUP, "/aws/lambda/other"], logStreamNamePrefixes=["2026"]
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"


def test_the_aws_cli_start_live_tail_prints_new_lines(
    server: LaminaProcess, invoked: list[int], tmp_path: Path
) -> None:
    """``aws logs start-live-tail`` (CLI v1, with botocore's
    ``AWS_DISABLE_HOST_PREFIX_INJECTION``): it prints the messages of each update as they
    come; nothing written before the session, nothing the pattern leaves out."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
    args = ["--log-group-identifiers", GROUP, "--log-event-filter-pattern", "plain"]
    tail = subprocess.Popen(
        [AWS, "--endpoint-url", server.endpoint, "logs", "start-live-tail", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read(out: IO[str]) -> None:
        for line in out:
            lines.put(line.rstrip("\n"))

    assert tail.stdout is not None
    threading.Thread(target=read, args=(tail.stdout,), daemon=True).start()
    lam = client(server, "lambda")
    printed: list[str] = []
    try:
        # The session starts when the CLI has connected: invoke until a line comes back.
        for n in range(100, 130):
            event = {"level": "INFO", "latency": 1, "n": n}
            lam.invoke(FunctionName="logs-fn", Payload=json.dumps(event).encode())
            try:
                printed.append(lines.get(timeout=2))
                break
            except queue.Empty:
                continue
        event = {"level": "INFO", "latency": 1, "n": 999}
        lam.invoke(FunctionName="logs-fn", Payload=json.dumps(event).encode())
        while printed[-1:] != ["plain text line 999"]:
            printed.append(lines.get(timeout=30))
    finally:
        tail.terminate()
        _, err = tail.communicate(timeout=30)
    assert printed, err
    numbers = [int(line.removeprefix("plain text line ")) for line in printed]
    assert numbers == sorted(numbers) and numbers[-1] == 999
    assert all(100 <= n < 130 or n == 999 for n in numbers), numbers
