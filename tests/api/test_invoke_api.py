"""The Lambda API's invoke and control-plane edge cases, against a real ``lamina serve``.

Everything goes through boto3 (or raw HTTP where boto3 would refuse to send the request),
as a user's code would. One server serves the module; the restart test runs its own.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    REPORT,
    LaminaProcess,
    api_error,
    python_zip,
    unvalidated_client,
    zip_files,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ACCOUNT = "000000000000"
REGION = "us-east-1"
TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$")

ECHO = """
def handler(event, context):
    print("echo got", event)
    return event
"""

PROBE = """
import os
def handler(event, context):
    cc = context.client_context
    return {
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "custom": cc.custom if cc else None,
        "memory": context.memory_limit_in_mb,
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("invoke-api-data")).start()
    try:
        proc.create("api-echo", python_zip(ECHO))
        yield proc
    finally:
        proc.stop()


def function_logs(server: LaminaProcess, name: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.endpoint}/lamina/v1/functions/{name}/logs") as resp:
        events: list[dict[str, Any]] = json.loads(resp.read())["events"]
    return events


def role() -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


# -- invoke errors -------------------------------------------------------------------
def test_invoking_an_unknown_function_is_resource_not_found(server: LaminaProcess) -> None:
    client = server.lambda_client()
    code, status, message = api_error(lambda: client.invoke(FunctionName="api-no-such-fn"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "api-no-such-fn" in message


def test_a_sync_payload_over_6_mb_is_request_too_large(server: LaminaProcess) -> None:
    client = server.lambda_client()
    payload = json.dumps("a" * (6 * 1024 * 1024)).encode()  # 6 MiB of text plus quotes
    code, status, _ = api_error(lambda: client.invoke(FunctionName="api-echo", Payload=payload))
    assert (code, status) == ("RequestTooLargeException", 413)


def test_an_async_payload_over_1_mb_is_request_too_large(server: LaminaProcess) -> None:
    client = server.lambda_client()
    payload = json.dumps("a" * (1024 * 1024)).encode()
    code, status, _ = api_error(
        lambda: client.invoke(FunctionName="api-echo", InvocationType="Event", Payload=payload)
    )
    assert (code, status) == ("RequestTooLargeException", 413)


def test_a_malformed_json_payload_is_invalid_request_content(server: LaminaProcess) -> None:
    client = server.lambda_client()
    code, status, _ = api_error(lambda: client.invoke(FunctionName="api-echo", Payload=b'{"a": 1,'))
    assert (code, status) == ("InvalidRequestContentException", 400)


def test_a_large_malformed_json_payload_is_invalid_request_content(
    server: LaminaProcess,
) -> None:
    client = server.lambda_client()
    payload = b'{"a": ' + b"x" * 5000 + b"}"  # braces at both ends, not JSON inside
    code, status, _ = api_error(lambda: client.invoke(FunctionName="api-echo", Payload=payload))
    assert (code, status) == ("InvalidRequestContentException", 400)


def test_an_unknown_invocation_type_is_invalid_parameter_value(server: LaminaProcess) -> None:
    client = unvalidated_client(server)
    code, status, message = api_error(
        lambda: client.invoke(FunctionName="api-echo", InvocationType="Sometime", Payload=b"{}")
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "invocationType" in message


def test_an_unknown_log_type_is_invalid_parameter_value(server: LaminaProcess) -> None:
    client = unvalidated_client(server)
    code, status, message = api_error(
        lambda: client.invoke(FunctionName="api-echo", LogType="Everything", Payload=b"{}")
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "logType" in message


def test_a_client_context_that_is_not_base64_is_invalid_request_content(
    server: LaminaProcess,
) -> None:
    client = server.lambda_client()
    code, status, _ = api_error(
        lambda: client.invoke(FunctionName="api-echo", ClientContext="%%% not base64 %%%")
    )
    assert (code, status) == ("InvalidRequestContentException", 400)


def test_a_function_response_over_6_mb_is_a_function_error(server: LaminaProcess) -> None:
    server.create(
        "api-bigresponse",
        python_zip("""
        def handler(event, context):
            return "r" * event["n"]
    """),
        MemorySize=256,
    )
    out = server.invoke("api-bigresponse", {"n": 6 * 1024 * 1024 + 200})
    assert out.status == 200
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Function.ResponseSizeTooLarge"
    ok = server.invoke("api-bigresponse", {"n": 10})
    assert ok.function_error is None and ok.json() == "r" * 10


# -- invocation types and names --------------------------------------------------------
def test_dry_run_answers_204_without_running(server: LaminaProcess) -> None:
    out = server.lambda_client().invoke(
        FunctionName="api-echo", InvocationType="DryRun", Payload=b'{"dry":1}'
    )
    assert out["StatusCode"] == 204
    assert out["Payload"].read() == b""
    assert not any("'dry'" in e["message"] for e in function_logs(server, "api-echo"))


def test_event_invoke_answers_202_and_the_function_really_runs(server: LaminaProcess) -> None:
    server.create(
        "api-async",
        python_zip("""
        def handler(event, context):
            print("async-marker", event["token"])
            return None
    """),
    )
    token = f"tok-{time.time_ns()}"
    out = server.lambda_client().invoke(
        FunctionName="api-async", InvocationType="Event", Payload=json.dumps({"token": token})
    )
    assert out["StatusCode"] == 202
    assert out["Payload"].read() == b""
    deadline = time.monotonic() + 60
    messages: list[str] = []
    while time.monotonic() < deadline:
        messages = [e["message"] for e in function_logs(server, "api-async")]
        if any(m.startswith("REPORT RequestId:") for m in messages):
            break
        time.sleep(0.2)
    assert f"async-marker {token}" in messages, messages
    assert any(m.startswith("START RequestId:") for m in messages)


def test_executed_version_is_latest_for_an_unqualified_invoke(server: LaminaProcess) -> None:
    out = server.invoke("api-echo", {"x": 1})
    assert out.status == 200
    assert out.json() == {"x": 1}
    assert out.executed_version == "$LATEST"
    assert out.function_error is None


def test_full_and_partial_arns_name_the_function(server: LaminaProcess) -> None:
    full = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api-echo"
    partial = f"{ACCOUNT}:function:api-echo"
    for name in (full, partial, f"{full}:$LATEST", "api-echo:$LATEST"):
        out = server.invoke(name, {"via": name})
        assert out.status == 200, name
        assert out.json() == {"via": name}
        assert out.executed_version == "$LATEST"


def test_runtime_headers_reach_the_function_as_lambda_builds_them(server: LaminaProcess) -> None:
    server.create("api-probe", python_zip(PROBE), Timeout=7)
    ctx = base64.b64encode(json.dumps({"custom": {"tenant": "t-1"}}).encode()).decode()
    out = server.invoke("api-probe", {}, ClientContext=ctx)
    body = out.json()
    assert TRACE.match(body["trace"]), body["trace"]
    # The Root's time field is the current epoch time in hex.
    root_time = int(body["trace"].split("-")[1], 16)
    assert abs(root_time - time.time()) < 3600
    assert 0 < body["remaining"] <= 7000
    assert body["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api-probe"
    assert body["custom"] == {"tenant": "t-1"}
    assert out.report()["id"] == body["request_id"]
    second = server.invoke("api-probe", {}).json()
    assert second["custom"] is None
    assert second["trace"] != body["trace"]


def test_a_published_version_keeps_its_code_after_latest_changes(server: LaminaProcess) -> None:
    client = server.lambda_client()
    v1 = 'def handler(event, context):\n    return "v1"\n'
    v2 = 'def handler(event, context):\n    return "v2"\n'
    server.create("api-versions", python_zip(v1))
    published = client.publish_version(FunctionName="api-versions")
    assert published["Version"] == "1"
    client.update_function_code(FunctionName="api-versions", ZipFile=python_zip(v2))
    old = server.invoke("api-versions", {}, Qualifier="1")
    new = server.invoke("api-versions", {})
    assert (old.json(), old.executed_version) == ("v1", "1")
    assert (new.json(), new.executed_version) == ("v2", "$LATEST")
    assert "Version: 1" in old.log.splitlines()[0]
    by_arn = server.invoke(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api-versions:1", {})
    assert (by_arn.json(), by_arn.executed_version) == ("v1", "1")
    code, status, _ = api_error(lambda: server.invoke("api-versions", {}, Qualifier="7"))
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_a_memory_update_makes_the_next_invoke_cold_with_the_new_size(
    server: LaminaProcess,
) -> None:
    client = server.lambda_client()
    server.create("api-memory", python_zip(PROBE), MemorySize=128)
    server.invoke("api-memory", {})
    warm = server.invoke("api-memory", {})
    assert warm.report()["init"] is None and warm.report()["memory"] == "128"
    updated = client.update_function_configuration(FunctionName="api-memory", MemorySize=256)
    assert updated["MemorySize"] == 256
    after = server.invoke("api-memory", {})
    report = after.report()
    assert report["memory"] == "256"
    assert report["init"] is not None, "the first invoke after an update must be cold"
    assert after.json()["memory"] == "256"  # a string, as on AWS


# -- create and update validation --------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"MemorySize": 64}, "memorySize"),
        ({"Timeout": 901}, "timeout"),
        ({"Runtime": "python2.7"}, "runtime"),
        ({"Handler": "nohandler"}, "Handler"),
        ({"Environment": {"Variables": {"BIG": "v" * 4100}}}, "environment variables"),
        ({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}, "AWS_REGION"),
    ],
    ids=["memory-64", "timeout-901", "python2.7", "no-dot-handler", "env-over-4kb", "reserved"],
)
def test_create_rejects_invalid_fields_naming_them(
    server: LaminaProcess, overrides: dict[str, Any], field: str
) -> None:
    client = unvalidated_client(server)
    args: dict[str, Any] = {
        "FunctionName": "api-invalid",
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Role": role(),
        "Code": {"ZipFile": python_zip(ECHO)},
        **overrides,
    }
    code, status, message = api_error(lambda: client.create_function(**args))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert field in message
    code, status, _ = api_error(lambda: client.get_function(FunctionName="api-invalid"))
    assert code == "ResourceNotFoundException", "a rejected create left a function behind"


def test_reserved_key_message_says_reserved(server: LaminaProcess) -> None:
    code, _, message = api_error(
        lambda: server.create(
            "api-reserved",
            python_zip(ECHO),
            Environment={"Variables": {"AWS_LAMBDA_RUNTIME_API": "x:1"}},
        )
    )
    assert code == "InvalidParameterValueException"
    assert "reserved" in message.lower() and "AWS_LAMBDA_RUNTIME_API" in message


@pytest.mark.parametrize(
    "package",
    [
        b"this is not a zip file at all",
        zip_files({"../evil.py": "print('escaped')", "app.py": ECHO}),
        zip_files({"/etc/evil.py": "x = 1", "app.py": ECHO}),
    ],
    ids=["not-a-zip", "zip-slip-dotdot", "absolute-path"],
)
def test_bad_packages_are_invalid_zip_file(server: LaminaProcess, package: bytes) -> None:
    code, status, _ = api_error(lambda: server.create("api-badzip", package))
    assert (code, status) == ("InvalidZipFileException", 502)
    code, _, _ = api_error(lambda: server.lambda_client().get_function(FunctionName="api-badzip"))
    assert code == "ResourceNotFoundException"


def test_creating_a_function_twice_is_a_conflict(server: LaminaProcess) -> None:
    server.create("api-twice", python_zip(ECHO))
    code, status, message = api_error(lambda: server.create("api-twice", python_zip(ECHO)))
    assert (code, status) == ("ResourceConflictException", 409)
    assert "api-twice" in message


def test_a_stale_revision_id_is_precondition_failed(server: LaminaProcess) -> None:
    client = server.lambda_client()
    created = server.create("api-revision", python_zip(ECHO))
    current = created["RevisionId"]
    assert current
    code, status, _ = api_error(
        lambda: client.update_function_configuration(
            FunctionName="api-revision", MemorySize=256, RevisionId="0" * 8 + current[8:]
        )
    )
    assert (code, status) == ("PreconditionFailedException", 412)
    code, _, _ = api_error(
        lambda: client.update_function_code(
            FunctionName="api-revision", ZipFile=python_zip(ECHO), RevisionId="stale"
        )
    )
    assert code == "PreconditionFailedException"
    assert client.get_function_configuration(FunctionName="api-revision")["MemorySize"] == 128
    ok = client.update_function_configuration(
        FunctionName="api-revision", MemorySize=256, RevisionId=current
    )
    assert ok["MemorySize"] == 256 and ok["RevisionId"] != current


def test_a_deleted_function_is_not_found_on_invoke(server: LaminaProcess) -> None:
    client = server.lambda_client()
    server.create("api-deleted", python_zip(ECHO))
    assert server.invoke("api-deleted", {"a": 1}).json() == {"a": 1}  # leave a warm env
    client.delete_function(FunctionName="api-deleted")
    code, status, _ = api_error(lambda: client.invoke(FunctionName="api-deleted"))
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_list_functions_pages_through_every_function_once(server: LaminaProcess) -> None:
    client = server.lambda_client()
    mine = {f"api-page-{i}" for i in range(5)}
    for name in sorted(mine):
        server.create(name, python_zip(ECHO))
    seen: list[str] = []
    pages = 0
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen.extend(f["FunctionName"] for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 100, "paging does not end"
    assert len(seen) == len(set(seen)), f"a function was listed twice: {seen}"
    assert mine <= set(seen)
    everything = client.list_functions(MaxItems=1000)["Functions"]
    assert sorted(seen) == sorted(f["FunctionName"] for f in everything)
    assert pages >= 3


# -- log tails ---------------------------------------------------------------------------
def test_log_tail_is_at_most_4_kb_and_ends_with_the_report_line(server: LaminaProcess) -> None:
    out = server.invoke("api-echo", {"t": 1}, tail=True)
    raw = out.log.encode()
    assert 0 < len(raw) <= 4096
    last = out.log.rstrip("\n").split("\n")[-1]
    assert REPORT.match(last), last
    assert out.log.splitlines()[0].startswith("START RequestId: ")


def test_a_noisy_function_returns_only_the_last_4_kb_of_its_log(server: LaminaProcess) -> None:
    server.create(
        "api-noisy",
        python_zip("""
        def handler(event, context):
            for i in range(200):
                print(f"line-{i:04d} " + "x" * 45)
            return "done"
    """),
    )
    out = server.invoke("api-noisy", {}, tail=True)
    assert out.json() == "done"
    raw = out.log.encode()
    assert len(raw) == 4096, len(raw)  # 10 KB of output: cut to exactly the last 4 KB
    assert "line-0199 " in out.log
    assert "line-0000 " not in out.log
    assert "START RequestId:" not in out.log
    assert REPORT.match(out.log.rstrip("\n").split("\n")[-1])
    # The full output still went to the function's log.
    messages = [e["message"] for e in function_logs(server, "api-noisy")]
    assert any(m.startswith("line-0000 ") for m in messages)


# -- persistence ---------------------------------------------------------------------------
def test_functions_survive_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = LaminaProcess(data).start()
    try:
        first.create("keep-a", python_zip('def handler(e, c):\n    return "a"\n'))
        first.create(
            "keep-b",
            python_zip('def handler(e, c):\n    return "b"\n'),
            MemorySize=256,
            Environment={"Variables": {"COLOUR": "blue"}},
        )
        first.lambda_client().publish_version(FunctionName="keep-a")
        assert first.invoke("keep-a", {}).json() == "a"
    finally:
        first.stop()
    second = LaminaProcess(data).start()
    try:
        client = second.lambda_client()
        names = {f["FunctionName"] for f in client.list_functions()["Functions"]}
        assert names == {"keep-a", "keep-b"}
        b = client.get_function_configuration(FunctionName="keep-b")
        assert b["MemorySize"] == 256
        assert b["Environment"]["Variables"] == {"COLOUR": "blue"}
        assert second.invoke("keep-a", {}).json() == "a"
        assert second.invoke("keep-b", {}).json() == "b"
        v1 = second.invoke("keep-a", {}, Qualifier="1")
        assert (v1.json(), v1.executed_version) == ("a", "1")
    finally:
        second.stop()
