"""A function with ``LoggingConfig.LogFormat=JSON`` logs JSON records from its runtime.

Real server, real boto3: the platform sets ``AWS_LAMBDA_LOG_FORMAT`` from the function's
configuration and Lamina's runtimes (Python started or forked from a SnapStart zygote, and
Node.js) write each log call as a JSON record carrying the invoke's request id, and the
invoke's error as a JSON ERROR record. The records' exact shapes are compared with AWS's
own runtime clients in tests/runtimes/test_log_format.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, python_zip, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

PYTHON = """
import logging

log = logging.getLogger("app")


def handler(event, context):
    log.warning("careful %s", event["n"])
    log.error({"n": event["n"]})
    if event.get("fail"):
        raise ValueError("boom")
    return "ok"
"""
NODE = """
exports.handler = async (event) => {
  console.warn('careful %s', event.n);
  console.error({ n: event.n });
  if (event.fail) throw new TypeError('boom');
  return 'ok';
};
"""
CASES: dict[str, tuple[str, bytes, dict[str, Any]]] = {
    "python": ("python3.12", python_zip(PYTHON), {}),
    "python-snapstart": (
        "python3.12",
        python_zip(PYTHON),
        {"SnapStart": {"ApplyOn": "PublishedVersions"}},
    ),
    "node": ("nodejs20.x", zip_files({"app.js": NODE}), {}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("lamina-log-format")
    proc = LaminaProcess(data).start()
    yield proc
    proc.stop()


def records(log: str) -> list[dict[str, Any]]:
    """The tail's JSON log records (platform events are records of another shape)."""
    out = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "level" in record:
                out.append(record)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_log_format_reaches_the_runtime(server: LaminaProcess, case: str) -> None:
    runtime, code, extra = CASES[case]
    name = f"log-json-{case}"
    server.create(name, code, runtime=runtime, LoggingConfig={"LogFormat": "JSON"}, **extra)
    ok = server.invoke(name, {"n": 1})
    assert ok.json() == "ok"
    request_id = re.search(r'"requestId": ?"([0-9a-f-]{36})"', ok.log)
    assert request_id is not None, ok.log
    logged = records(ok.log)
    node = runtime.startswith("nodejs")
    assert [(r["level"], r["message"]) for r in logged] == [
        ("WARN" if node else "WARNING", "careful 1"),
        ("ERROR", {"n": 1}),
    ]
    assert {r["requestId"] for r in logged} == {request_id.group(1)}
    failed = server.invoke(name, {"n": 2, "fail": True})
    assert failed.function_error == "Unhandled"
    error = records(failed.log)[-1]
    assert error["level"] == "ERROR"
    if node:  # the error itself is the message
        assert error["message"]["errorType"] == "TypeError"
        assert error["message"]["errorMessage"] == "boom"
    else:  # the answer's body, after a timestamp and the level
        assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
