"""Errors answered per protocol, read back by botocore's own parsers (pure, no sockets)."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from lamina.errors import (
    ApiError,
    AwsServiceError,
    InvalidParameterValue,
    ResourceNotFound,
    S3Error,
    ServiceError,
    TooManyRequests,
)
from lamina.services.eventbridge.service import DIALECT as EVENTS_DIALECT
from lamina.services.eventbridge.service import PROTOCOL as EVENTS
from lamina.services.iam.errors import NoSuchEntity
from lamina.services.iam.handler import PROTOCOL as IAM
from lamina.services.protocol.awsjson import JsonDialect, parse_call
from lamina.services.protocol.errors import LAMBDA, Protocol, Wire, answer, error_answer
from lamina.services.s3.service import PROTOCOL as S3
from lamina.services.sqs.errors import not_found
from lamina.services.sqs.handler import DIALECT as SQS_DIALECT
from lamina.services.sqs.handler import JSON_PROTOCOL as SQS_JSON
from lamina.services.sqs.handler import QUERY_PROTOCOL as SQS_QUERY
from lamina.wire.http import Request
from lamina.wire.server import Response

_SESSION = botocore.session.get_session()


def parsed(resp: Response, service: str, operation: str, protocol: str) -> dict[str, Any]:
    """What a botocore client of ``service`` makes of ``resp`` as ``operation``'s answer."""
    model = _SESSION.get_service_model(service).operation_model(operation)
    headers = {k.lower(): v for k, v in resp.headers.items()}
    raw = {"status_code": resp.status, "headers": headers, "body": resp.body}
    out: dict[str, Any] = create_parser(protocol).parse(raw, model.output_shape)
    return out


def test_lambda_errors_keep_their_type_header_and_both_message_spellings() -> None:
    resp = error_answer(ResourceNotFound("Function not found: f"), LAMBDA)
    assert resp.status == 404
    assert resp.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(resp.body) == {
        "Type": "User",
        "message": "Function not found: f",
        "Message": "Function not found: f",
    }
    error = parsed(resp, "lambda", "GetFunction", "rest-json")["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Message"] == "Function not found: f"


def test_throttles_carry_their_reason_and_retry_after() -> None:
    resp = error_answer(TooManyRequests("Rate exceeded", "ReservedFunctionConcurrency"), LAMBDA)
    assert resp.status == 429 and resp.headers["Retry-After"] == "1"
    assert json.loads(resp.body)["Reason"] == "ReservedFunctionConcurrency"


def test_sqs_json_errors_are_qualified_and_carry_the_query_code() -> None:
    resp = error_answer(not_found(), SQS_JSON)
    assert resp.status == 400
    assert resp.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(resp.body)["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert resp.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    error = parsed(resp, "sqs", "GetQueueUrl", "json")["Error"]
    assert error["Code"] in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    assert error["Message"] == "The specified queue does not exist."


def test_json_protocol_errors_of_the_protocol_itself_stay_unqualified() -> None:
    resp = error_answer(AwsServiceError("SerializationException", "Malformed JSON body"), SQS_JSON)
    assert json.loads(resp.body)["__type"] == "SerializationException"
    assert "x-amzn-query-error" not in resp.headers


def test_sqs_query_errors_are_xml_with_the_legacy_code() -> None:
    resp = error_answer(not_found(), SQS_QUERY)
    assert resp.status == 400 and resp.headers["Content-Type"] == "text/xml"
    error = parsed(resp, "sqs", "GetQueueUrl", "query")["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["Type"] == "Sender"
    assert error["Message"] == "The specified queue does not exist."


def test_server_faults_are_the_receivers() -> None:
    resp = error_answer(AwsServiceError("InternalError", "disk full", 500), SQS_QUERY)
    assert parsed(resp, "sqs", "GetQueueUrl", "query")["Error"]["Type"] == "Receiver"


def test_s3_errors_name_the_resource_and_head_answers_have_no_body() -> None:
    exc = S3Error("NoSuchKey", "The specified key does not exist.", 404, "/b/k & j")
    resp = error_answer(exc, S3)
    assert resp.headers["Content-Type"] == "application/xml"
    assert len(resp.headers["x-amz-request-id"]) == 16
    assert b"<Resource>/b/k &amp; j</Resource>" in resp.body
    error = parsed(resp, "s3", "GetObject", "rest-xml")["Error"]
    assert error["Code"] == "NoSuchKey"
    assert error["Message"] == "The specified key does not exist."
    head = error_answer(exc, S3, head=True)
    assert head.status == 404 and head.body == b""


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (InvalidParameterValue("bad path"), "ValidationException", 400),
        (ResourceNotFound("no rule"), "ResourceNotFoundException", 400),
        (ServiceError("broken"), "InternalException", 500),
    ],
)
def test_eventbridge_names_shared_validation_errors_its_own_way(
    exc: ApiError, code: str, status: int
) -> None:
    resp = error_answer(exc, EVENTS)
    assert resp.status == status
    assert resp.headers["Content-Type"] == "application/x-amz-json-1.1"
    error = parsed(resp, "events", "DescribeRule", "json")["Error"]
    assert error["Code"] == code and error["Message"] == exc.message


def test_a_lambda_error_in_another_protocol_keeps_its_code_by_default() -> None:
    resp = error_answer(ResourceNotFound("gone"), Protocol(Wire.JSON, "application/x-amz-json-1.1"))
    assert resp.status == 404
    assert json.loads(resp.body) == {"__type": "ResourceNotFoundException", "message": "gone"}


def test_answer_lets_bugs_through_to_the_wire_layer() -> None:
    def broken() -> Response:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        answer(LAMBDA, broken)


def _call(target: str, body: bytes) -> Request:
    return Request("POST", "/", {"x-amz-target": target}, body)


@pytest.mark.parametrize(
    ("dialect", "target", "body", "code", "message"),
    [
        (EVENTS_DIALECT, "AWSEvents.Nope", b"{}", "UnknownOperationException", "Nope"),
        (EVENTS_DIALECT, "AWSEvents.PutRule", b"{", "SerializationException", "Malformed JSON"),
        (EVENTS_DIALECT, "AWSEvents.PutRule", b"[]", "SerializationException", "an object"),
        (SQS_DIALECT, "AmazonSQS.Nope", b"{}", "UnsupportedOperation", "does not implement"),
        (SQS_DIALECT, "AmazonSQS.SendMessage", b"{", "SerializationException", "Malformed"),
        (SQS_DIALECT, "AmazonSQS.SendMessage", b"1", "SerializationException", "JSON object"),
    ],
)
def test_json_calls_are_refused_before_any_operation_runs(
    dialect: JsonDialect, target: str, body: bytes, code: str, message: str
) -> None:
    with pytest.raises(AwsServiceError) as exc:
        parse_call(_call(target, body), dialect, {"PutRule", "SendMessage"})
    assert exc.value.code == code and message in exc.value.message


def test_a_json_call_names_its_operation_and_members() -> None:
    call = parse_call(_call("AWSEvents.PutRule", b'{"Name":"r"}'), EVENTS_DIALECT, {"PutRule"})
    assert (call.operation, call.members) == ("PutRule", {"Name": "r"})
    assert EVENTS_DIALECT.accepts(_call("AWSEvents.PutRule", b""))
    assert not EVENTS_DIALECT.accepts(_call("AmazonSQS.SendMessage", b""))


def test_iam_errors_are_query_xml_without_declaration_or_detail() -> None:
    resp = error_answer(NoSuchEntity("The role with name r cannot be found."), IAM)
    assert resp.status == 404
    assert resp.body.startswith(
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    )
    assert b"<Detail/>" not in resp.body
    error = parsed(resp, "iam", "GetRole", "query")["Error"]
    assert (error["Code"], error["Type"]) == ("NoSuchEntity", "Sender")
    assert error["Message"] == "The role with name r cannot be found."


def test_the_servers_own_failures_are_logged_before_they_are_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> Response:
        raise ServiceError("the store is gone")

    def refused() -> Response:
        raise ResourceNotFound("no such function")

    with caplog.at_level("ERROR", logger="lamina.services"):
        assert answer(LAMBDA, broken).status == 500
        assert answer(LAMBDA, refused).status == 404
    assert [r.getMessage() for r in caplog.records] == [
        "answering 500: ServiceError: the store is gone"
    ]
