"""Every runtime, including AWS's own runtime clients and a Rust bootstrap, end to end."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.integration.harness import EXAMPLES, LaminaProcess, python_zip, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

HELLO_PY = """
import sys
def handler(event, context):
    return {"version": "%d.%d" % sys.version_info[:2], "name": event.get("name")}
"""


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13"])
def test_python_runtimes_run_on_their_own_interpreter(lamina: LaminaProcess, runtime: str) -> None:
    name = "rt-" + runtime.replace(".", "-")
    lamina.create(name, python_zip(HELLO_PY), runtime=runtime)
    out = lamina.invoke(name, {"name": "x"})
    assert out.function_error is None, out.payload
    assert out.json() == {"version": runtime.removeprefix("python"), "name": "x"}


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs22.x"])
def test_node_runtimes_run_async_handlers(lamina: LaminaProcess, runtime: str) -> None:
    name = "rt-" + runtime.replace(".", "-")
    code = zip_files(
        {
            "index.mjs": (
                "export const handler = async (event, context) => "
                "({ node: process.versions.node, id: context.awsRequestId, name: event.name });\n"
            )
        }
    )
    lamina.create(name, code, runtime=runtime, handler="index.handler")
    out = lamina.invoke(name, {"name": "y"})
    assert out.function_error is None, out.payload
    body = out.json()
    assert body["name"] == "y" and body["id"] == out.report()["id"]
    # The Node that ran is the one the server's runtime table names for this runtime
    # (nodejs22.x falls back to the newest Node >= 20 here, and says so in its note).
    with urllib.request.urlopen(lamina.endpoint + "/lamina/v1/runtimes") as answer:
        table = {r["runtime"]: r for r in json.load(answer)["runtimes"]}
    assert "v" + body["node"] == table[runtime]["version"]
    major = runtime.removeprefix("nodejs").removesuffix(".x")
    if not body["node"].startswith(major + "."):
        assert f"runs on Node v{body['node']}" in table[runtime]["note"]


def test_node_starts_with_awss_flags_for_its_memory(lamina: LaminaProcess) -> None:
    code = zip_files(
        {
            "index.mjs": (
                "import v8 from 'node:v8';\n"
                "export const handler = async () => {\n"
                "  globalThis.gc();\n"
                "  return { gc: typeof globalThis.gc, argv: process.execArgv,\n"
                "           limitMb: v8.getHeapStatistics().heap_size_limit / 2 ** 20 };\n"
                "};\n"
            )
        }
    )
    lamina.create("rt-node-flags", code, runtime="nodejs20.x", handler="index.handler",
                  MemorySize=256)  # fmt: skip
    out = lamina.invoke("rt-node-flags", {})
    assert out.function_error is None, out.payload
    body = out.json()
    assert body["gc"] == "function"
    assert "--max-old-space-size=231" in body["argv"]
    assert "--max-semi-space-size=12" in body["argv"]
    # V8's own limit follows: old space plus the young generation, far below the host's
    # default (a quarter of its RAM or more), so a runaway heap fails inside V8 first.
    assert 231 < body["limitMb"] < 256 + 64


@pytest.mark.parametrize(
    ("example", "runtime", "handler", "language"),
    [
        ("hello-python", "python3.11", "app.handler", "python"),
        ("hello-node", "nodejs20.x", "index.handler", "node"),
        ("hello-rust", "provided.al2023", "bootstrap", "rust"),
        ("ric-python", "provided.al2023", "app.handler", "python-awslambdaric"),
        ("ric-node", "provided.al2023", "index.handler", "node-aws-lambda-ric"),
    ],
)
def test_examples_and_aws_runtime_clients_answer_cold_and_warm(
    lamina: LaminaProcess, example: str, runtime: str, handler: str, language: str
) -> None:
    zip_path = EXAMPLES / f"{example}.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    name = "ex-" + example
    lamina.create(name, zip_path.read_bytes(), runtime=runtime, handler=handler)
    cold = lamina.invoke(name, {"name": "Lamina"})
    warm = lamina.invoke(name, {})
    assert cold.function_error is None, cold.payload
    c, w = cold.json(), warm.json()
    assert c["message"] == "Hello, Lamina!" and w["message"] == "Hello, World!"
    assert c["runtime"] == language
    assert (c["coldStart"], w["coldStart"]) == (True, False)
    assert c["requestId"] == cold.report()["id"]
    assert cold.report()["init"] is not None and warm.report()["init"] is None
    failed = lamina.invoke(name, {"fail": True})
    assert failed.function_error == "Unhandled"
    body = failed.json()
    assert body["errorMessage"] == "asked to fail"
    assert "HelloError" in body["errorType"]


def test_a_provided_function_without_bootstrap_fails_with_invalid_entrypoint(
    lamina: LaminaProcess,
) -> None:
    lamina.create(
        "rt-noboot",
        zip_files({"readme.txt": "no bootstrap here"}),
        runtime="provided.al2023",
        handler="x",
    )
    out = lamina.invoke("rt-noboot", {})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Runtime.InvalidEntrypoint"
