"""Which requests the event sources take on the API's shared port (real signed requests)."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina.events.http.handlers import FunctionUrlHandler
from lamina.services.eventbridge.service import EventsService
from lamina.services.protocol.sigv4 import signed_service
from lamina.services.s3.requests import is_s3_request
from lamina.services.sqs.handler import is_sqs_request
from lamina.wire.http import Request

CREDS = Credentials("AKIDLAMINA", "lamina-secret")


def signed(
    service: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Request:
    aws = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if service == "s3":
        aws.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(CREDS, service, "us-east-1").add_auth(aws)
    target = url.split("127.0.0.1:9000", 1)[1]
    hdrs = {k.lower(): v for k, v in aws.headers.items()}
    hdrs["host"] = "127.0.0.1:9000"
    return Request(method, target, hdrs, body, raw_headers=list(hdrs.items()))


def test_signed_requests_go_to_the_service_their_scope_names() -> None:
    s3 = signed(
        "s3", "PUT", "http://127.0.0.1:9000/2015-03-31/object"
    )  # a bucket named like a date
    assert signed_service(s3) == "s3" and is_s3_request(s3) and not is_sqs_request(s3)
    lam = signed("lambda", "GET", "http://127.0.0.1:9000/2015-03-31/functions/")
    assert signed_service(lam) == "lambda" and not is_s3_request(lam) and not is_sqs_request(lam)
    query = signed(
        "sqs",
        "POST",
        "http://127.0.0.1:9000/",
        b"Action=ListQueues",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert is_sqs_request(query) and not is_s3_request(query)
    json_sqs = signed(
        "sqs", "POST", "http://127.0.0.1:9000/", b"{}", {"X-Amz-Target": "AmazonSQS.ListQueues"}
    )
    assert is_sqs_request(json_sqs)
    events = signed(
        "events", "POST", "http://127.0.0.1:9000/", b"{}", {"X-Amz-Target": "AWSEvents.ListRules"}
    )
    assert EventsService.accepts(events) and not is_sqs_request(events)


def test_unsigned_requests_and_function_urls() -> None:
    url = Request("GET", "/lambda-url/abc/x", {"host": "127.0.0.1:9000"}, b"")
    assert FunctionUrlHandler.accepts(url)
    by_host = Request("GET", "/", {"host": "abc.lambda-url.us-east-1.localhost:9000"}, b"")
    assert FunctionUrlHandler.accepts(by_host)
    curl_lambda = Request("GET", "/2015-03-31/functions/", {"host": "h"}, b"")
    assert not is_s3_request(curl_lambda) and not FunctionUrlHandler.accepts(curl_lambda)
    unsigned_s3 = Request(
        "GET", "/bucket/key", {"host": "h", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, b""
    )
    assert is_s3_request(unsigned_s3)
