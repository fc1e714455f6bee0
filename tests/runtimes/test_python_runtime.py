"""The Python bootstrap, run as a real process against a real (test) Runtime API server."""

from __future__ import annotations

import json
import re
import textwrap
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


def command(runtime: str = "python3.11") -> RuntimeCommand:
    try:
        return REGISTRY.resolve(runtime, str(runtime_dir()))
    except InvalidRuntime as exc:
        pytest.skip(str(exc))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@contextmanager
def python_runtime(
    tmp_path: Path,
    files: dict[str, str],
    handler: str = "app.handler",
    runtime: str = "python3.11",
    close_after_answer: bool = False,
    **env: str,
) -> Iterator[tuple[FakeRuntimeApi, RuntimeProcess]]:
    task = write(tmp_path / "task", files)
    with FakeRuntimeApi(close_after_answer=close_after_answer) as api:
        variables = lambda_environment(api, task, handler, **env)
        with run_runtime(command(runtime).argv, variables, task, tmp_path / "logs") as rt:
            yield api, rt


ECHO = {"app.py": "def handler(event, context):\n    return {'got': event}\n"}


def test_handler_result_is_answered_as_json(tmp_path: Path) -> None:
    with python_runtime(tmp_path, ECHO) as (api, rt):
        answer = api.invoke({"n": 1, "s": "x"}, rt.process)
        assert answer.kind == "response"
        assert answer.json() == {"got": {"n": 1, "s": "x"}}
        # The same environment serves the next event (warm invoke).
        assert api.invoke([1, 2], rt.process).json() == {"got": [1, 2]}


def test_none_result_is_null(tmp_path: Path) -> None:
    files = {"app.py": "def handler(event, context):\n    return None\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        answer = api.invoke({}, rt.process)
        assert (answer.kind, answer.body) == ("response", b"null")


def test_dotted_package_handler(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/mod.py": "def fn(event, context):\n    return 'deep ' + event\n",
    }
    with python_runtime(tmp_path, files, handler="pkg.sub.mod.fn") as (api, rt):
        assert api.invoke("ok", rt.process).json() == "deep ok"


def test_slash_separated_handler_module(tmp_path: Path) -> None:
    files = {"src/__init__.py": "", "src/app.py": "def go(event, context):\n    return 7\n"}
    with python_runtime(tmp_path, files, handler="src/app.go") as (api, rt):
        assert api.invoke({}, rt.process).json() == 7


def test_context_attributes_and_remaining_time(tmp_path: Path) -> None:
    files = {
        "app.py": """
            import os
            def handler(event, context):
                return {
                    "aws_request_id": context.aws_request_id,
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "remaining": context.get_remaining_time_in_millis(),
                    "tenant_id": context.tenant_id,
                    "custom": context.client_context and context.client_context.custom,
                    "app_title": context.client_context and context.client_context.client.app_title,
                    "identity_id": context.identity.cognito_identity_id,
                    "pool_id": context.identity.cognito_identity_pool_id,
                    "trace": os.environ.get("_X_AMZN_TRACE_ID"),
                }
        """
    }
    client_context = {"custom": {"k": "v"}, "client": {"app_title": "demo"}, "env": {}}
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    with python_runtime(tmp_path, files) as (api, rt):
        deadline = int(time.time() * 1000) + 120_000
        answer = api.invoke(
            {},
            rt.process,
            request_id="req-1",
            deadline_ms=deadline,
            headers={
                "Lambda-Runtime-Client-Context": json.dumps(client_context),
                "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
            },
        )
        got = answer.json()
        assert isinstance(got, dict)
        remaining = got.pop("remaining")
        assert 0 < remaining <= 120_000
        assert got == {
            "aws_request_id": "req-1",
            "function_name": "fn",
            "function_version": "$LATEST",
            "invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
            "memory_limit_in_mb": "256",  # a string, as on AWS
            "log_group_name": "/aws/lambda/fn",
            "log_stream_name": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
            "tenant_id": None,
            "custom": {"k": "v"},
            "app_title": "demo",
            "identity_id": "id-1",
            "pool_id": "pool-1",
            "trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        }
        # A deadline already past leaves no time, never a negative number.
        late = api.invoke({}, rt.process, deadline_ms=int(time.time() * 1000) - 5_000).json()
        assert isinstance(late, dict)
        assert late["remaining"] == 0
        assert late["custom"] is None


def test_exception_becomes_error_body_and_log(tmp_path: Path) -> None:
    files = {"app.py": 'def handler(event, context):\n    raise ValueError("boom")\n'}
    with python_runtime(tmp_path, files) as (api, rt):
        answer = api.invoke({}, rt.process, request_id="req-err")
        app = tmp_path / "task" / "app.py"
        assert answer.kind == "error"
        assert answer.json() == {
            "errorMessage": "boom",
            "errorType": "ValueError",
            "requestId": "req-err",
            "stackTrace": [f'  File "{app}", line 2, in handler\n    raise ValueError("boom")\n'],
        }
        assert (
            f'[ERROR] ValueError: boom\nTraceback (most recent call last):\n  File "{app}", '
            'line 2, in handler\n    raise ValueError("boom")\n'
        ) in rt.stderr()
        # The runtime survives a failed invoke.
        assert rt.process.poll() is None


def test_import_error_is_reported_to_init_error_and_exits_1(tmp_path: Path) -> None:
    with python_runtime(tmp_path, ECHO, handler="missing.handler") as (api, rt):
        answer = api.wait_init_error()
        assert rt.wait() == 1
    assert answer.headers["lambda-runtime-function-error-type"] == "Runtime.ImportModuleError"
    body = answer.json()
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'missing': No module named 'missing'"
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module" in rt.stderr()


def test_missing_dependency_names_the_dependency(tmp_path: Path) -> None:
    files = {"app.py": "import notinstalled_dep\ndef handler(e, c):\n    return 1\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert body == {
        "errorMessage": "Unable to import module 'app': No module named 'notinstalled_dep'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }


def test_handler_not_found(tmp_path: Path) -> None:
    with python_runtime(tmp_path, ECHO, handler="app.nope") as (api, rt):
        answer = api.wait_init_error()
        assert rt.wait() == 1
    body = answer.json()
    assert isinstance(body, dict)
    assert answer.headers["lambda-runtime-function-error-type"] == "Runtime.HandlerNotFound"
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"] == "Handler 'nope' missing on module 'app'"


def test_syntax_error(tmp_path: Path) -> None:
    files = {"app.py": "def handler(event, context)\n    return 1\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert str(body["errorMessage"]).startswith("Syntax error in module 'app': ")
    assert "app.py" in body["stackTrace"][0]


def test_exception_at_module_level_fails_init_with_its_type(tmp_path: Path) -> None:
    files = {"app.py": "raise RuntimeError('no config')\ndef handler(e, c):\n    return 1\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        body = api.wait_init_error().json()
        assert rt.wait() == 1
    assert isinstance(body, dict)
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "no config")


def test_unserializable_result_is_a_marshal_error(tmp_path: Path) -> None:
    files = {"app.py": "def handler(event, context):\n    return {1, 2}\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        answer = api.invoke({}, rt.process)
    assert answer.kind == "error"
    body = answer.json()
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


# Bodies json.loads reads and the bootstrap's fast path does not: each must still arrive as
# json.loads decodes it (or fail as it fails).
ODD_BODIES = [
    b'{"a": 1}\n',
    b' \t{"a": 1}',
    '\ufeff{"bom": true}'.encode(),
    '{"utf": "\u00e9"}'.encode("utf-16"),
    '["le"]'.encode("utf-16-le"),
    b'"\xed\xa0\x80"',
    b"NaN",
]


def test_event_bodies_decode_exactly_as_json_loads(tmp_path: Path) -> None:
    files = {"app.py": "def handler(event, context):\n    return {'got': repr(event)}\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        for body in ODD_BODIES:
            answer = api.invoke(body, rt.process)
            assert (answer.kind, answer.json()) == ("response", {"got": repr(json.loads(body))})
        for bad in (b"[1, 2] x", b'{"a": 1}\x0b', b"\xff"):
            answer = api.invoke(bad, rt.process)
            assert answer.kind == "error"
            error = answer.json()
            assert isinstance(error, dict)
            assert error["errorType"] == "Runtime.UnmarshalError"
            with pytest.raises(ValueError) as expected:
                json.loads(bad)
            assert error["errorMessage"] == f"Unable to unmarshal input: {expected.value}"


def test_a_failed_answer_does_not_spoil_the_next_ones(tmp_path: Path) -> None:
    # The encoder is made once; a failure inside an object must not leave that object
    # marked as "being encoded", or the next answer holding it reads as circular.
    files = {
        "app.py": """
            SHARED = {"ok": [1]}
            def handler(event, context):
                if event == "bad":
                    SHARED["bad"] = {1, 2}
                else:
                    SHARED.pop("bad", None)
                    SHARED["text"] = event
                    SHARED["nan"] = float("nan")
                return SHARED
        """
    }
    with python_runtime(tmp_path, files) as (api, rt):
        for _ in range(2):
            error = api.invoke("bad", rt.process).json()
            assert isinstance(error, dict)
            assert error["errorMessage"] == (
                "Unable to marshal response: Object of type set is not JSON serializable"
            )
            answer = api.invoke("é", rt.process)
            assert answer.body == b'{"ok": [1], "text": "\\u00e9", "nan": NaN}'


def test_decimal_and_bytes_results(tmp_path: Path) -> None:
    files = {
        "app.py": """
            from decimal import Decimal
            def handler(event, context):
                if event == "bytes":
                    return b"raw\\x00bytes"
                return {"int": Decimal("3"), "float": Decimal("1.5")}
        """
    }
    with python_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({}, rt.process).json() == {"int": 3, "float": 1.5}
        assert api.invoke("bytes", rt.process).body == b"raw\x00bytes"


def test_sys_exit_in_handler_ends_the_runtime(tmp_path: Path) -> None:
    files = {"app.py": "import sys\ndef handler(event, context):\n    sys.exit(3)\n"}
    with python_runtime(tmp_path, files) as (api, rt):
        request_id = api.queue_event({})
        assert rt.wait() == 3
        with pytest.raises(AssertionError, match="exited"):
            api.wait_answer(request_id, rt.process)


def test_output_reaches_the_log_before_the_answer(tmp_path: Path) -> None:
    files = {
        "app.py": """
            import sys
            def handler(event, context):
                print("to stdout", event)
                print("partial line, no newline", end="")
                sys.stderr.write("to stderr\\n")
                return 1
        """
    }
    with python_runtime(tmp_path, files) as (api, rt):
        api.invoke("e1", rt.process)
        assert rt.stdout() == "to stdout e1\npartial line, no newline"
        assert rt.stderr() == "to stderr\n"


def test_logging_module_gets_lambda_line_format(tmp_path: Path) -> None:
    files = {
        "app.py": """
            import logging
            logger = logging.getLogger()
            logger.setLevel(logging.INFO)
            def handler(event, context):
                logger.info("hello %s", event)
                return 1
        """
    }
    with python_runtime(tmp_path, files) as (api, rt):
        api.invoke("there", rt.process, request_id="req-log")
        line = rt.stdout().rstrip("\n")
    level, stamp, request_id, message = line.split("\t")
    assert (level, request_id, message) == ("[INFO]", "req-log", "hello there")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)


def test_logging_is_configured_before_the_handler_module_runs(tmp_path: Path) -> None:
    # As with AWS's runtime: the module sees the root handler at import time (Powertools
    # attaches its duplicate filter there), and its own basicConfig() is a no-op.
    files = {
        "app.py": """
            import logging
            HANDLERS_AT_IMPORT = len(logging.getLogger().handlers)
            logging.basicConfig(format="%(message)s only")
            logging.getLogger().setLevel(logging.INFO)
            def handler(event, context):
                logging.info("hi")
                return HANDLERS_AT_IMPORT
        """
    }
    with python_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({}, rt.process, request_id="req-early").json() == 1
        line = rt.stdout().rstrip("\n")
    assert line.startswith("[INFO]\t") and line.endswith("\treq-early\thi"), line


def test_a_function_that_never_imports_logging_does_not_load_it(tmp_path: Path) -> None:
    files = {
        "app.py": "import sys\ndef handler(event, context):\n    return 'logging' in sys.modules\n"
    }
    with python_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({}, rt.process).json() is False


def test_reconnects_when_the_server_closes_the_connection(tmp_path: Path) -> None:
    with python_runtime(tmp_path, ECHO, close_after_answer=True) as (api, rt):
        for n in range(3):
            assert api.invoke(n, rt.process).json() == {"got": n}
        # One connection per answered invoke: each was dropped and reopened.
        assert api.connections >= 3


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_newer_interpreters_run_the_bootstrap(tmp_path: Path, runtime: str) -> None:
    files = {
        "app.py": """
            import sys
            def handler(event, context):
                return {"version": "%d.%d" % sys.version_info[:2], "text": event}
        """,
        "broken.py": "def handler(event, context):\n    raise KeyError('k')\n",
    }
    with python_runtime(tmp_path, files, runtime=runtime) as (api, rt):
        answer = api.invoke("héllo", rt.process)
        # Python 3.12+ runtimes answer raw UTF-8, like AWS's.
        assert "héllo".encode() in answer.body
        assert answer.json() == {"version": runtime.removeprefix("python"), "text": "héllo"}
    with python_runtime(tmp_path / "b", files, handler="broken.handler", runtime=runtime) as (
        api,
        rt,
    ):
        body = api.invoke({}, rt.process).json()
    assert isinstance(body, dict)
    assert (body["errorType"], body["errorMessage"]) == ("KeyError", "'k'")
    assert body["stackTrace"][0].endswith("raise KeyError('k')\n")


def test_a_module_named_bootstrap_is_the_functions_own(tmp_path: Path) -> None:
    """The runtime runs ``bootstrap.py`` as ``__main__`` (from ``start.py``), so the name
    ``bootstrap`` stays free for the function's code, and runtime frames stay out of its
    tracebacks."""
    files = {
        "bootstrap.py": "NAME = 'mine'\n",
        "app.py": """
            import sys
            import bootstrap
            def handler(event, context):
                if event == "fail":
                    raise ValueError("boom")
                return {"name": bootstrap.NAME, "main": type(sys.modules["__main__"]).__name__}
        """,
    }
    with python_runtime(tmp_path, files) as (api, rt):
        assert api.invoke({}, rt.process).json() == {"name": "mine", "main": "module"}
        body = api.invoke("fail", rt.process).json()
    assert isinstance(body, dict)
    assert [frame.split('"')[1] for frame in body["stackTrace"]] == [
        str(tmp_path / "task" / "app.py")
    ]


def test_requests_name_an_address_with_a_percent_as_given() -> None:
    """The POST is a bytes template; a ``%`` of the address (an IPv6 zone) stays one ``%``
    in both the POST and the GET /next written behind it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "lamina_python_bootstrap", runtime_dir() / "python" / "bootstrap.py"
    )
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    client = bootstrap.RuntimeApiClient("[fe80::1%eth0]:9001")
    host = b"Host: [fe80::1%eth0]:9001\r\n"
    get = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n" + host + b"\r\n"
    assert client._get_next == get
    written = client._post % (b"r-1", b"response", 2, b"", b"{}")
    assert written == (
        b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\n"
        + host
        + b"Content-Length: 2\r\n\r\n{}"
        + get
    )
