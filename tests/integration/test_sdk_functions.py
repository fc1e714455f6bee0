"""Functions written as for AWS, using the AWS SDKs inside the function, run unmodified."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.events.live import client
from tests.integration.harness import EXAMPLES, LaminaProcess, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_a_node_function_using_aws_sdk_v3_talks_to_laminas_s3(lamina: LaminaProcess) -> None:
    # @aws-sdk/client-s3 reads ~/.aws/config at INIT: without a home directory in the
    # sandbox it failed with `uv_os_homedir returned ENOENT` before the handler ran.
    zip_path = EXAMPLES / "sdk-node-s3.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    client(lamina.endpoint, "s3").create_bucket(Bucket="sdk-v3")
    lamina.create(
        "sdk-node-s3",
        zip_path.read_bytes(),
        runtime="nodejs20.x",
        handler="index.handler",
        Timeout=30,
        MemorySize=256,
    )
    out = lamina.invoke("sdk-node-s3", {"bucket": "sdk-v3", "hello": "v3"})
    assert out.function_error is None, (out.payload, out.log)
    body = out.json()
    assert body["homedir"] == "/home/sbx_user1051"
    assert body["region"] == "us-east-1"
    assert body["node"].split(".")[0] == "20"
    assert '"hello":"v3"' in body["body"]
    stored = client(lamina.endpoint, "s3").get_object(Bucket="sdk-v3", Key=body["key"])
    assert b'"bucket":"sdk-v3"' in stored["Body"].read()


POWERTOOLS_APP = """
from aws_lambda_powertools import Logger

logger = Logger(service="payment")


@logger.inject_lambda_context
def handler(event, context):
    logger.info("Collecting payment")
    logger.warning({"operation": "collect_payment", "charge_id": event["charge_id"]})
    return "memory: " + context.memory_limit_in_mb
"""


def vendored(*modules: str) -> dict[str, str | bytes]:
    """The installed source files of ``modules`` (packages or single-file modules), as a
    function would vendor them (the same CPython minor version runs the function)."""
    files: dict[str, str | bytes] = {}
    for name in modules:
        origin = importlib.util.find_spec(name)
        assert origin is not None and origin.origin is not None, name
        path = Path(origin.origin)
        if path.name != "__init__.py":
            files[path.name] = path.read_bytes()
            continue
        for file in path.parent.rglob("*"):
            if file.is_file() and "__pycache__" not in file.parts:
                files[str(file.relative_to(path.parent.parent))] = file.read_bytes()
    return files


def test_powertools_logger_prints_each_line_once_in_its_json_format(
    lamina: LaminaProcess,
) -> None:
    code = zip_files(
        {
            "app.py": POWERTOOLS_APP,
            **vendored("aws_lambda_powertools", "jmespath", "typing_extensions"),
        }
    )
    lamina.create("powertools-logger", code, Timeout=30, MemorySize=256)
    for _ in range(2):  # cold, then warm
        out = lamina.invoke("powertools-logger", {"charge_id": "ch_1"})
        assert out.function_error is None, (out.payload, out.log)
        assert out.json() == "memory: 256"
        lines = [
            line
            for line in out.log.splitlines()
            if line and not line.startswith(("START ", "END ", "REPORT "))
        ]
        records = [json.loads(line) for line in lines]
        assert [(r["level"], r["message"]) for r in records] == [
            ("INFO", "Collecting payment"),
            ("WARNING", {"operation": "collect_payment", "charge_id": "ch_1"}),
        ]
        assert {r["service"] for r in records} == {"payment"}
        assert {r["function_request_id"] for r in records} == {out.report()["id"]}
