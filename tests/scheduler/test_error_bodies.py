"""The error bodies an invoke answers with, and the one reader of a runtime's error post."""

from __future__ import annotations

import json

from lamina.models.invocation import FunctionError
from lamina.scheduler import error_bodies as eb

PYTHON_POST = json.dumps(
    {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "",
        "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n'],
    }
).encode()
NODE_POST = json.dumps(
    {"errorType": "TypeError", "errorMessage": "x is undefined", "trace": ["TypeError: x", "at h"]}
).encode()


def test_a_python_error_post_is_answered_with_its_fields_in_lambdas_order() -> None:
    body = json.loads(eb.invoke_error_body(PYTHON_POST, "ValueError"))
    assert list(body) == ["errorMessage", "errorType", "stackTrace", "requestId"]
    assert body["errorMessage"] == "boom" and body["errorType"] == "ValueError"
    assert body["stackTrace"] == ['  File "/var/task/app.py", line 3, in handler\n']


def test_a_node_error_post_keeps_its_trace_key() -> None:
    body = json.loads(eb.invoke_error_body(NODE_POST, None))
    assert body == {
        "errorMessage": "x is undefined",
        "errorType": "TypeError",
        "trace": ["TypeError: x", "at h"],
    }


def test_an_error_post_without_a_type_takes_the_header_type() -> None:
    body = json.loads(eb.invoke_error_body(b'{"errorMessage":"m"}', "Custom.Kind"))
    assert body == {"errorMessage": "m", "errorType": "Custom.Kind"}
    assert json.loads(eb.invoke_error_body(b'{"errorMessage":"m"}', None))["errorType"] == ""


def test_a_body_that_is_not_an_error_becomes_the_message_of_the_header_type() -> None:
    assert json.loads(eb.invoke_error_body(b"plain words", "Handled")) == {
        "errorMessage": "plain words",
        "errorType": "Handled",
    }
    assert json.loads(eb.invoke_error_body(b'{"other":1}', None)) == {
        "errorMessage": '{"other":1}',
        "errorType": "Runtime.Unknown",
    }


def test_an_init_error_reads_the_same_post_and_names_the_trace_stack_trace() -> None:
    post = eb.parse_error_post(NODE_POST)
    error = eb.init_error(post, "Runtime.ImportModuleError")
    assert error == FunctionError("TypeError", "x is undefined", ("TypeError: x", "at h"))
    assert json.loads(error.to_json())["stackTrace"] == ["TypeError: x", "at h"]


def test_an_unreadable_init_error_is_named_by_its_header_or_unknown() -> None:
    assert eb.init_error(eb.parse_error_post(b"not json"), "Runtime.HandlerNotFound") == (
        FunctionError("Runtime.HandlerNotFound", "")
    )
    assert eb.init_error(eb.parse_error_post(b"[1, 2]")) == FunctionError("Runtime.Unknown", "")


def test_a_zygote_error_without_a_message_gets_the_default_message() -> None:
    post = eb.read_error_post({"errorType": "ImportError", "errorMessage": ""})
    assert eb.init_error(post, default_message="the zygote failed") == FunctionError(
        "ImportError", "the zygote failed"
    )
    assert eb.init_error(eb.read_error_post(None), default_message="x").error_type == (
        "Runtime.Unknown"
    )


def test_an_init_failure_answer_carries_the_request_id() -> None:
    body = json.loads(eb.init_failure_body(FunctionError("Runtime.Unknown", "no"), "rid-1"))
    assert body == {"errorMessage": "no", "errorType": "Runtime.Unknown", "requestId": "rid-1"}


def test_runtime_exits_are_worded_as_lambda_words_them() -> None:
    killed = eb.runtime_exited(137, oom=False, request_id="r1")
    assert killed == FunctionError(
        "Runtime.ExitError", "RequestId: r1 Error: Runtime exited with error: signal: killed"
    )
    assert eb.runtime_exited(-11, False, None).error_message == (
        "Error: Runtime exited with error: signal: 11"
    )
    assert eb.runtime_exited(3, False, None).error_message.endswith("exit status 3")
    assert eb.runtime_exited(137, oom=True, request_id="r1").error_type == "Runtime.OutOfMemory"


def test_timeouts_and_oversize_answers() -> None:
    assert eb.task_timeout("r9", 3).error_message == (
        "RequestId: r9 Error: Task timed out after 3.00 seconds"
    )
    assert eb.init_timeout(10).to_json() == (
        b'{"errorMessage":"INIT timed out after 10.00 seconds","errorType":"Sandbox.Timedout"}'
    )
    assert json.loads(eb.response_too_large()) == {
        "errorMessage": (
            "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        ),
        "errorType": "Function.ResponseSizeTooLarge",
    }
