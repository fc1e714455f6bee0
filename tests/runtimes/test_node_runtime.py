"""The Node.js bootstrap, run as a real process against a real (test) Runtime API server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lamina.errors import InvalidRuntime
from lamina.runtimes.registry import RuntimeCommand, RuntimeRegistry, runtime_dir
from tests.runtimes.fake_runtime_api import (
    FakeRuntimeApi,
    RuntimeProcess,
    lambda_environment,
    run_runtime,
)

REGISTRY = RuntimeRegistry({})
LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]+)\t(INFO|WARN|ERROR)\t(.*)$"
)


def command(runtime: str = "nodejs20.x") -> RuntimeCommand:
    try:
        return REGISTRY.resolve(runtime, str(runtime_dir()))
    except InvalidRuntime as exc:
        pytest.skip(str(exc))


@contextmanager
def node_runtime(
    tmp_path: Path,
    files: dict[str, str],
    handler: str = "app.handler",
    close_after_answer: bool = False,
) -> Iterator[tuple[FakeRuntimeApi, RuntimeProcess]]:
    task = tmp_path / "task"
    for name, text in files.items():
        path = task / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    task.mkdir(exist_ok=True)
    with FakeRuntimeApi(close_after_answer=close_after_answer) as api:
        variables = lambda_environment(api, task, handler)
        with run_runtime(command().argv, variables, task, tmp_path / "logs") as rt:
            yield api, rt


def test_async_handler(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = async (event) => ({ got: event });\n"}
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({"a": 1}, rt.process).json() == {"got": {"a": 1}}
        assert api.invoke("again", rt.process).json() == {"got": "again"}


def test_callback_handler(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = (event, context, callback) => {
              setTimeout(() => callback(null, { later: event }), 1);
            };
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke(5, rt.process).json() == {"later": 5}


def test_sync_handler_returning_a_value(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = (event) => ({ sync: event });\n"}
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke(1, rt.process).json() == {"sync": 1}


def test_handler_returning_nothing_answers_null_once_the_loop_is_empty(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = (event) => { setTimeout(() => console.log('tick'), 1); };
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({}, rt.process).body == b"null"
        # The pending timer ran before the answer, as with callbackWaitsForEmptyEventLoop.
        assert rt.stdout().rstrip("\n").endswith("\tINFO\ttick")


def test_mjs_handler(tmp_path: Path) -> None:
    files = {"app.mjs": "export const handler = async (event) => ({ esm: event });\n"}
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke("m", rt.process).json() == {"esm": "m"}


def test_js_handler_under_type_module_is_esm(tmp_path: Path) -> None:
    files = {
        "package.json": json.dumps({"type": "module"}),
        "src/app.js": """
            import { basename } from 'node:path';
            export async function handler(event) {
              return { esm: typeof require === 'undefined', file: basename(import.meta.url) };
            }
        """,
    }
    with node_runtime(tmp_path, files, handler="src/app.handler") as (api, rt):
        assert api.invoke({}, rt.process).json() == {"esm": True, "file": "app.js"}


def test_commonjs_handlers(tmp_path: Path) -> None:
    files = {
        "lib/helper.js": "module.exports.twice = (n) => n * 2;\n",
        "app.js": """
            const { twice } = require('./lib/helper');
            exports.handler = async (event) => twice(event);
        """,
        "other.cjs": "module.exports.handler = async () => 'cjs';\n",
    }
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke(21, rt.process).json() == 42
    with node_runtime(tmp_path / "b", files, handler="other.handler") as (api, rt):
        assert api.invoke({}, rt.process).json() == "cjs"


def test_context(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = async (event, context) => ({
              awsRequestId: context.awsRequestId,
              functionName: context.functionName,
              functionVersion: context.functionVersion,
              invokedFunctionArn: context.invokedFunctionArn,
              memoryLimitInMB: context.memoryLimitInMB,
              logGroupName: context.logGroupName,
              logStreamName: context.logStreamName,
              remaining: context.getRemainingTimeInMillis(),
              clientContext: context.clientContext,
              identity: context.identity,
              waits: context.callbackWaitsForEmptyEventLoop,
              trace: process.env._X_AMZN_TRACE_ID,
            });
        """
    }
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    with node_runtime(tmp_path, files) as (api, rt):
        got = api.invoke(
            {},
            rt.process,
            request_id="req-n",
            deadline_ms=int(time.time() * 1000) + 90_000,
            headers={
                "Lambda-Runtime-Client-Context": '{"custom":{"k":1}}',
                "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
            },
        ).json()
    assert isinstance(got, dict)
    assert 0 < got.pop("remaining") <= 90_000
    assert got == {
        "awsRequestId": "req-n",
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "memoryLimitInMB": "256",
        "logGroupName": "/aws/lambda/fn",
        "logStreamName": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "clientContext": {"custom": {"k": 1}},
        "identity": identity,
        "waits": True,
        "trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }


def test_errors_have_lambdas_node_shape(tmp_path: Path) -> None:
    files = {
        "app.js": """
            class CustomError extends Error { constructor(m) { super(m); this.name = 'CustomError'; } }
            exports.handler = async (event) => {
              if (event === 'custom') throw new CustomError('nope');
              if (event === 'string') throw 'just a string';
              throw new TypeError('boom');
            };
            exports.cb = (event, context, callback) => callback(new Error('via callback'));
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        body = api.invoke("type", rt.process).json()
        assert isinstance(body, dict)
        assert (body["errorType"], body["errorMessage"]) == ("TypeError", "boom")
        assert body["trace"][0] == "TypeError: boom"
        assert "app.js:6" in body["trace"][1]  # the dedented source starts with a newline
        assert "stackTrace" not in body
        custom = api.invoke("custom", rt.process).json()
        assert isinstance(custom, dict)
        assert (custom["errorType"], custom["errorMessage"]) == ("CustomError", "nope")
        assert api.invoke("string", rt.process).json() == {
            "errorType": "string",
            "errorMessage": "just a string",
            "trace": [],
        }
        assert rt.process.poll() is None
        assert '\tERROR\tInvoke Error \t{"errorType":"TypeError"' in rt.stdout()
    with node_runtime(tmp_path / "b", files, handler="app.cb") as (api, rt):
        body = api.invoke({}, rt.process).json()
    assert isinstance(body, dict)
    assert (body["errorType"], body["errorMessage"]) == ("Error", "via callback")


def test_unserializable_result_is_an_error(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = async () => ({ big: 1n });\n"}
    with node_runtime(tmp_path, files) as (api, rt):
        answer = api.invoke({}, rt.process)
    body = answer.json()
    assert answer.kind == "error"
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.MarshalError"


def test_missing_module_is_an_import_error(tmp_path: Path) -> None:
    with node_runtime(tmp_path, {"other.js": ""}, handler="app.handler") as (api, rt):
        answer = api.wait_init_error()
        assert rt.wait() == 1
    assert answer.headers["lambda-runtime-function-error-type"] == "Runtime.ImportModuleError"
    body = answer.json()
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert str(body["errorMessage"]).startswith("Error: Cannot find module 'app'\nRequire stack:")
    assert body["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'app'"
    assert "\tundefined\tERROR\tUncaught Exception \t" in rt.stdout()


def test_missing_dependency_is_an_import_error(tmp_path: Path) -> None:
    files = {
        "app.js": "const x = require('not-installed-dep');\nexports.handler = async () => 1;\n"
    }
    with node_runtime(tmp_path, files) as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Cannot find module 'not-installed-dep'" in str(body["errorMessage"])


def test_handler_not_found(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = async () => 1;\nexports.value = 3;\n"}
    with node_runtime(tmp_path, files, handler="app.nope") as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert isinstance(body, dict)
    assert (body["errorType"], body["errorMessage"]) == (
        "Runtime.HandlerNotFound",
        "app.nope is undefined or not exported",
    )
    with node_runtime(tmp_path / "b", files, handler="app.value") as (api, rt):
        body = api.wait_init_error().json()
    assert isinstance(body, dict)
    assert body["errorMessage"] == "app.value is not a function"


def test_syntax_error(tmp_path: Path) -> None:
    files = {"app.mjs": "export const handler = async () => {\n"}
    with node_runtime(tmp_path, files) as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert str(body["errorMessage"]).startswith("SyntaxError: ")


def test_console_lines_carry_time_request_id_and_level(tmp_path: Path) -> None:
    files = {
        "app.js": """
            console.log('loading');
            exports.handler = async (event) => {
              console.log('hello %s', 'world', { n: 1 });
              console.info('info');
              console.warn('careful');
              console.error('bad', new Error('x').message);
              return 1;
            };
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        api.invoke({}, rt.process, request_id="req-c")
        lines = rt.stdout().splitlines()
    parsed = [LOG_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m[2], m[3], m[4]) for m in parsed if m] == [
        ("undefined", "INFO", "loading"),
        ("req-c", "INFO", "hello world { n: 1 }"),
        ("req-c", "INFO", "info"),
        ("req-c", "WARN", "careful"),
        ("req-c", "ERROR", "bad x"),
    ]


def test_uncaught_exception_fails_the_invoke_and_exits(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = (event, context, callback) => {
              setTimeout(() => { throw new RangeError('late'); }, 1);
            };
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        body = api.invoke({}, rt.process).json()
        assert rt.wait() != 0
    assert isinstance(body, dict)
    assert (body["errorType"], body["errorMessage"]) == ("RangeError", "late")


def test_reconnects_when_the_server_closes_the_connection(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = async (event) => event;\n"}
    with node_runtime(tmp_path, files, close_after_answer=True) as (api, rt):
        for n in range(3):
            assert api.invoke(n, rt.process).json() == n
        assert api.connections >= 3


def test_unhandled_rejection_fails_the_invoke_and_exits(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = async () => {
              Promise.reject(new Error('forgotten'));
              await new Promise((resolve) => setTimeout(resolve, 50));
              return 'unreachable';
            };
        """
    }
    with node_runtime(tmp_path, files) as (api, rt):
        body = api.invoke({}, rt.process).json()
        assert rt.wait() == 128
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert body["errorMessage"] == "Error: forgotten"


def test_a_large_event_and_answer_cross_many_reads(tmp_path: Path) -> None:
    files = {"app.js": "exports.handler = async (event) => ({ n: event.s.length, s: event.s });\n"}
    big = "é" + "x" * (5 * 1024 * 1024)  # 5 MiB: many socket reads, a multi-byte character
    with node_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({"s": big}, rt.process).json() == {"n": len(big), "s": big}
        assert api.invoke({"s": "small"}, rt.process).json() == {"n": 5, "s": "small"}


def _chunked(body: bytes) -> bytes:
    """``body`` as two chunks and the last one, with a trailer."""
    half = len(body) // 2
    parts = [body[:half], body[half:]]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-T: 1\r\n\r\n"


def test_chunked_answers_from_the_runtime_api_are_read(tmp_path: Path) -> None:
    """A Runtime API may answer with Transfer-Encoding: chunked (Lamina's uses lengths)."""
    posted: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            event = b'{"via":"chunks"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                b"Lambda-Runtime-Aws-Request-Id: req-k\r\n"
                b"Lambda-Runtime-Deadline-Ms: 9999999999999\r\n\r\n" + _chunked(event)
            )
            data = data.split(b"\r\n\r\n", 1)[1]
            while b"\r\n\r\n" not in data:  # the POST's head (the GET follows it)
                data += conn.recv(65536)
            head, rest = data.split(b"\r\n\r\n", 1)
            length = int(re.findall(rb"Content-Length: (\d+)", head)[0])
            while len(rest) < length:
                rest += conn.recv(65536)
            posted.append(head + b"\r\n\r\n" + rest[:length])
            conn.sendall(
                b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(b"{}")
            )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.js").write_text("exports.handler = async (event) => ({ got: event });\n")
    host, port = listener.getsockname()[:2]
    with FakeRuntimeApi() as unused:  # only for the variables; this test serves itself
        variables = lambda_environment(unused, task, "app.handler")
    variables["AWS_LAMBDA_RUNTIME_API"] = f"{host}:{port}"
    with run_runtime(command().argv, variables, task, tmp_path / "logs") as rt:
        thread.join(30)
        listener.close()
        assert rt.wait() != 0  # the connection closed under the next GET, on a new socket
    assert posted, rt.stderr()
    assert posted[0].startswith(b"POST /2018-06-01/runtime/invocation/req-k/response HTTP/1.1")
    assert posted[0].endswith(b'{"got":{"via":"chunks"}}')


def test_answer_heads_are_parsed_like_node_http(tmp_path: Path) -> None:
    """The client's hand-written head parser: names lower-cased, values trimmed, repeats
    joined, odd lines skipped, a bad status line refused."""
    script = tmp_path / "parse.mjs"
    client = runtime_dir() / "node" / "client.mjs"
    script.write_text(
        f"import {{ parseHead }} from {json.dumps(client.as_uri())};\n"
        "const out = [];\n"
        "for (const head of JSON.parse(process.argv[2])) {\n"
        "  try { out.push(parseHead(head)); } catch (err) { out.push(String(err.message)); }\n"
        "}\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    heads = [
        "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r-1\r\nCONTENT-LENGTH:  12 \r\n"
        "X-Many: a\r\nx-many: b\r\nno colon here\r\n: no name\r\nConstructor: c",
        "HTTP/1.1 202",
        "HTTP/1.1 20 OK",
        "garbage",
    ]

    done = subprocess.run(
        [command().argv[0], str(script), json.dumps(heads)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    parsed = json.loads(done.stdout)
    assert parsed[0] == {
        "status": 200,
        "headers": {
            "lambda-runtime-aws-request-id": "r-1",
            "content-length": "12",
            "x-many": "a, b",
            "constructor": "c",
        },
    }
    assert parsed[1] == {"status": 202, "headers": {}}
    assert parsed[2] == "bad status line from the Runtime API: HTTP/1.1 20 OK"
    assert parsed[3] == "bad status line from the Runtime API: garbage"
