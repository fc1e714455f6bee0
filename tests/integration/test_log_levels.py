"""LoggingConfig's ApplicationLogLevel and SystemLogLevel with real clients and a real function.

boto3 and the AWS CLI set and read the levels (CreateFunction, UpdateFunctionConfiguration,
GetFunction(Configuration), ListFunctions, a published version) and get Lambda's errors; the
levels outlive a server restart; and a Python function printing JSON lines with levels
leaves in CloudWatch Logs (Lamina's Logs API, boto3's get_log_events) exactly the records
its SystemLogLevel and ApplicationLogLevel let through.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    LaminaProcess,
    api_error,
    aws_cli,
    aws_client,
    cli_json,
    python_zip,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
TEXT_WITH_LEVEL = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
    'request or change the LogFormat to "JSON" and try again.'
)
# Prints one plain line and one JSON line per level, then answers: no logging module, so
# only the platform filters (as for a runtime that does not filter its own output).
CODE = """
import json, os

def handler(event, context):
    print("plain line")
    for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"):
        print(json.dumps({"level": level.lower(), "msg": "at " + level}))
    return os.environ.get("AWS_LAMBDA_LOG_LEVEL")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("log-levels") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def create(server: LaminaProcess, name: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = server.lambda_client().create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": python_zip(CODE)},
        **extra,
    )
    return out


def test_boto3_sets_and_reads_the_levels_everywhere_lambda_shows_them(
    server: LaminaProcess,
) -> None:
    lam = server.lambda_client()
    made = create(server, "levels-api", LoggingConfig={"LogFormat": "JSON"})
    assert made["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/levels-api",
    }
    lam.get_waiter("function_active_v2").wait(FunctionName="levels-api")
    updated = lam.update_function_configuration(
        FunctionName="levels-api",
        LoggingConfig={
            "LogFormat": "JSON",
            "ApplicationLogLevel": "DEBUG",
            "SystemLogLevel": "WARN",
        },
    )
    want = {"ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN"}
    assert {k: updated["LoggingConfig"][k] for k in want} == want
    got = lam.get_function(FunctionName="levels-api")["Configuration"]["LoggingConfig"]
    assert {k: got[k] for k in want} == want
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert {k: listed["levels-api"]["LoggingConfig"][k] for k in want} == want
    # A published version keeps the levels it was published with.
    assert lam.publish_version(FunctionName="levels-api")["Version"] == "1"
    lam.update_function_configuration(
        FunctionName="levels-api",
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "ERROR"},
    )
    latest = lam.get_function_configuration(FunctionName="levels-api")["LoggingConfig"]
    assert (latest["ApplicationLogLevel"], latest["SystemLogLevel"]) == ("ERROR", "INFO")
    v1 = lam.get_function_configuration(FunctionName="levels-api", Qualifier="1")
    assert {k: v1["LoggingConfig"][k] for k in want} == want
    versions = lam.list_versions_by_function(FunctionName="levels-api")["Versions"]
    assert [v["LoggingConfig"]["ApplicationLogLevel"] for v in versions] == ["ERROR", "DEBUG"]
    # The function sees its ApplicationLogLevel as AWS_LAMBDA_LOG_LEVEL.
    out = lam.invoke(FunctionName="levels-api", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "ERROR"
    # Back to Text: the levels go, and the variable with them.
    text = lam.update_function_configuration(
        FunctionName="levels-api", LoggingConfig={"LogFormat": "Text"}
    )
    assert text["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/levels-api"}
    out = lam.invoke(FunctionName="levels-api", Payload=b"{}")
    assert json.loads(out["Payload"].read()) is None


@pytest.mark.parametrize(
    ("logging", "message"),
    [
        ({"LogFormat": "Text", "ApplicationLogLevel": "INFO"}, TEXT_WITH_LEVEL),
        ({"LogFormat": "Text", "SystemLogLevel": "DEBUG"}, TEXT_WITH_LEVEL),
        ({"SystemLogLevel": "WARN"}, TEXT_WITH_LEVEL),  # the default format is Text
        (
            {"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"},
            "1 validation error detected: Value 'VERBOSE' at "
            "'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must "
            "satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
        ),
        (
            {"LogFormat": "JSON", "SystemLogLevel": "ERROR"},
            "1 validation error detected: Value 'ERROR' at 'loggingConfig.systemLogLevel' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[DEBUG, INFO, WARN]",
        ),
    ],
)
def test_create_and_update_refuse_what_lambda_refuses(
    server: LaminaProcess, logging: dict[str, str], message: str
) -> None:
    lam = server.lambda_client()
    code, status, said = api_error(lambda: create(server, "levels-refused", LoggingConfig=logging))
    assert (code, status, said) == ("InvalidParameterValueException", 400, message)
    assert api_error(lambda: lam.get_function(FunctionName="levels-refused"))[1] == 404
    if "LogFormat" not in logging:
        return  # on a Text function an update without a format is the same case
    create(server, "levels-refused-update")
    try:
        code, status, said = api_error(
            lambda: lam.update_function_configuration(
                FunctionName="levels-refused-update", LoggingConfig=logging
            )
        )
        assert (code, status, said) == ("InvalidParameterValueException", 400, message)
        shown = lam.get_function_configuration(FunctionName="levels-refused-update")
        assert shown["LoggingConfig"]["LogFormat"] == "Text"  # nothing changed
    finally:
        lam.delete_function(FunctionName="levels-refused-update")


def test_the_aws_cli_sets_and_shows_the_levels(server: LaminaProcess, tmp_path: Path) -> None:
    create(server, "levels-cli")
    cli_json(
        aws_cli(
            server,
            tmp_path,
            "lambda",
            "update-function-configuration",
            "--function-name",
            "levels-cli",
            "--logging-config",
            "LogFormat=JSON,ApplicationLogLevel=WARN,SystemLogLevel=DEBUG",
        )
    )
    shown = cli_json(
        aws_cli(
            server,
            tmp_path,
            "lambda",
            "get-function-configuration",
            "--function-name",
            "levels-cli",
        )
    )
    assert shown["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "WARN",
        "SystemLogLevel": "DEBUG",
        "LogGroup": "/aws/lambda/levels-cli",
    }
    refused = aws_cli(
        server,
        tmp_path,
        "lambda",
        "update-function-configuration",
        "--function-name",
        "levels-cli",
        "--logging-config",
        "LogFormat=Text,SystemLogLevel=WARN",
    )
    assert refused.returncode != 0
    assert "InvalidParameterValueException" in refused.stderr
    assert 'LogLevel is not supported when LogFormat is set to "Text"' in refused.stderr


def test_the_levels_outlive_a_server_restart(tmp_path: Path) -> None:
    proc = LaminaProcess(tmp_path / "data").start()
    try:
        create(
            proc,
            "levels-kept",
            LoggingConfig={
                "LogFormat": "JSON",
                "ApplicationLogLevel": "FATAL",
                "SystemLogLevel": "DEBUG",
            },
        )
        proc.lambda_client().publish_version(FunctionName="levels-kept")
    finally:
        proc.stop()
    proc.start()
    try:
        lam = proc.lambda_client()
        for qualifier in ("$LATEST", "1"):
            shown = lam.get_function_configuration(FunctionName="levels-kept", Qualifier=qualifier)
            assert shown["LoggingConfig"]["ApplicationLogLevel"] == "FATAL"
            assert shown["LoggingConfig"]["SystemLogLevel"] == "DEBUG"
    finally:
        proc.stop()


# -- what reaches CloudWatch Logs -------------------------------------------------------------
def app(*levels: str) -> list[str]:
    """The function's JSON lines at ``levels``, as it prints them."""
    return [json.dumps({"level": level.lower(), "msg": "at " + level}) for level in levels]


ALL = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@pytest.mark.parametrize(
    ("name", "logging", "expected"),
    [
        (
            "levels-sys-info-app-debug",
            {"SystemLogLevel": "INFO", "ApplicationLogLevel": "DEBUG"},
            [
                "platform.initStart",
                "platform.start",
                "plain line",
                *app(*ALL[1:]),
                "platform.report",
            ],
        ),
        (
            "levels-sys-warn-app-debug",
            {"SystemLogLevel": "WARN", "ApplicationLogLevel": "DEBUG"},
            ["plain line", *app(*ALL[1:])],
        ),
        (
            "levels-sys-info-app-error",
            {"SystemLogLevel": "INFO", "ApplicationLogLevel": "ERROR"},
            ["platform.initStart", "platform.start", *app("ERROR", "FATAL"), "platform.report"],
        ),
        (
            "levels-sys-warn-app-error",
            {"SystemLogLevel": "WARN", "ApplicationLogLevel": "ERROR"},
            app("ERROR", "FATAL"),
        ),
        (
            "levels-sys-debug-app-trace",
            {"SystemLogLevel": "DEBUG", "ApplicationLogLevel": "TRACE"},
            [
                "platform.initStart",
                "platform.initRuntimeDone",
                "platform.initReport",
                "platform.start",
                "plain line",
                *app(*ALL),
                "platform.runtimeDone",
                "platform.report",
            ],
        ),
    ],
)
def test_cloudwatch_logs_hold_exactly_what_the_levels_let_through(
    server: LaminaProcess, name: str, logging: dict[str, str], expected: list[str]
) -> None:
    create(server, name, LoggingConfig={"LogFormat": "JSON", **logging})
    lam = server.lambda_client()
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert json.loads(out["Payload"].read()) == logging["ApplicationLogLevel"]
    logs = aws_client(server, "logs")
    group = f"/aws/lambda/{name}"
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = logs.get_log_events(
        logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    seen = [_kind(e["message"]) for e in events]
    assert seen == expected
    # The system records are Lambda's: platform.start names the request and the version.
    by_type = {
        json.loads(e["message"]).get("type"): e["message"]
        for e in events
        if "platform." in e["message"]
    }
    request_id = out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    if "platform.start" in by_type:
        assert json.loads(by_type["platform.start"])["record"] == {
            "requestId": request_id,
            "version": "$LATEST",
        }
    if "platform.report" in by_type:
        report = json.loads(by_type["platform.report"])["record"]
        assert report["requestId"] == request_id and report["status"] == "success"
        assert report["metrics"]["initDurationMs"] > 0
    # LogType=Tail is the invoke's part of the same stream (INIT's records are the stream's).
    tail = [_kind(line) for line in base64.b64decode(out["LogResult"]).decode().splitlines()]
    assert tail == [k for k in expected if "platform.init" not in k]
    # filter_log_events finds the function's records by their JSON fields, as on AWS
    # (every ApplicationLogLevel here lets ERROR through).
    found = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "error" }')
    assert [e["message"] for e in found["events"]] == app("ERROR")


def _kind(message: str) -> str:
    """A system record by its type; the function's lines as they are."""
    if message.startswith('{"time"'):
        return str(json.loads(message)["type"])
    return message


def test_a_text_function_keeps_start_end_report_and_every_line(server: LaminaProcess) -> None:
    create(server, "levels-text")
    out = server.lambda_client().invoke(FunctionName="levels-text", Payload=b"{}", LogType="Tail")
    assert json.loads(out["Payload"].read()) is None  # no AWS_LAMBDA_LOG_LEVEL with Text
    tail = base64.b64decode(out["LogResult"]).decode().splitlines()
    assert tail[0].startswith("START RequestId: ")
    assert tail[1:8] == ["plain line", *app(*ALL)]
    assert tail[8].startswith("END RequestId: ") and tail[9].startswith("REPORT RequestId: ")


RUNTIME_LOGGING = """
import logging

def handler(event, context):
    log = logging.getLogger()
    log.debug("debug record")
    log.info("info record")
    log.warning("warning record")
    log.error("error record")
    return "ok"
"""


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("DEBUG", ["debug record", "info record", "warning record", "error record"]),
        ("WARN", ["warning record", "error record"]),
        ("ERROR", ["error record"]),
    ],
)
def test_the_python_runtimes_own_records_follow_the_application_level(
    server: LaminaProcess, level: str, expected: list[str]
) -> None:
    """The runtime reads AWS_LAMBDA_LOG_LEVEL and writes JSON records through ``logging``
    (Python's level names: WARNING), and the platform's filter keeps what it wrote."""
    name = f"levels-runtime-{level.lower()}"
    server.lambda_client().create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": python_zip(RUNTIME_LOGGING)},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": level},
    )
    out = server.invoke(name, {})
    assert out.json() == "ok"
    messages = [
        record["message"] for record in map(json.loads, out.log.splitlines()) if "level" in record
    ]
    assert messages == expected
