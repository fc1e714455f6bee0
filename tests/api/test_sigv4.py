"""SigV4 verification against requests signed by botocore itself (what boto3 and the CLI send)."""

from __future__ import annotations

import datetime
import time
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina.api import sigv4
from lamina.api.auth import Authenticator, amz_date_epoch
from lamina.errors import (
    AccessDenied,
    ApiError,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)

KEY, SECRET = "AKIDTEST", "test/secret+key"
HOST = "127.0.0.1:9000"
ENDPOINT = f"http://{HOST}"


class Signed:
    """A request as the server receives it after botocore signed it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.target, self.headers, self.body = method, target, headers, body

    def args(self) -> tuple[str, str, dict[str, str], bytes]:
        return self.method, self.target, self.headers, self.body


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    key: str = KEY,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "lambda",
) -> Signed:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    received = {k.lower(): str(v) for k, v in prepared.headers.items()}
    received["host"] = parts.netloc
    return Signed(method, target, received, body)


def auth(required: bool = True, clock: Any = time.time, **kw: Any) -> Authenticator:
    return Authenticator({KEY: SECRET}, required=required, region="us-east-1", clock=clock, **kw)


def expect(
    error: type[ApiError], signed: Signed, authenticator: Authenticator | None = None
) -> str:
    with pytest.raises(error) as info:
        (authenticator or auth()).check(*signed.args())
    assert info.value.status == 403
    return info.value.message


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/2015-03-31/functions/", b""),
        ("GET", "/2015-03-31/functions/?MaxItems=2&Marker=YS1i%2Bc%2Fd%3D", b""),
        (
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction"
            "%3Afn/invocations?Qualifier=live",
            b'{"msg": "h\xc3\xa9llo"}',
        ),
        ("DELETE", "/2017-03-31/tags/arn%3Aaws%3Alambda?tagKeys=b&tagKeys=a&tagKeys=a%20b", b""),
        ("POST", "/2015-03-31/functions", b"x" * 100_000),
        ("GET", "/2015-03-31/functions/my-fn/./aliases/../aliases", b""),
    ],
    ids=["list", "marker", "invoke-arn", "untag-repeated", "big-body", "dot-segments"],
)
def test_botocore_signed_requests_verify(method: str, path: str, body: bytes) -> None:
    signed = botocore_signed(method, ENDPOINT + path, body, {"X-Amz-Log-Type": "Tail"})
    assert auth().check(*signed.args()) == KEY


def test_a_changed_body_path_query_or_header_breaks_the_signature() -> None:
    path = "/2015-03-31/functions/fn/invocations?Qualifier=1"
    signed = botocore_signed("POST", ENDPOINT + path, b'{"a":1}', {"X-Amz-Log-Type": "Tail"})
    assert auth().check(*signed.args()) == KEY
    tampered = [
        Signed("POST", signed.target, signed.headers, b'{"a":2}'),
        Signed("POST", signed.target.replace("/fn/", "/fm/"), signed.headers, signed.body),
        Signed("POST", signed.target.replace("=1", "=2"), signed.headers, signed.body),
        Signed("POST", signed.target, {**signed.headers, "x-amz-log-type": "None"}, signed.body),
        Signed("PUT", signed.target, signed.headers, signed.body),
    ]
    for request in tampered:
        message = expect(InvalidSignature, request)
        assert "does not match" in message


def test_a_wrong_secret_is_an_invalid_signature_and_an_unknown_key_unrecognized() -> None:
    wrong = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/", secret="nope")
    expect(InvalidSignature, wrong)
    unknown = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/", key="AKIDOTHER")
    assert "security token" in expect(UnrecognizedClient, unknown)


def test_unsigned_requests_are_refused_with_keys_and_served_in_dev_mode() -> None:
    args = ("GET", "/2015-03-31/functions/", {"host": HOST}, b"")
    with pytest.raises(MissingAuthenticationToken):
        auth(required=True).check(*args)
    assert auth(required=False).check(*args) is None


@pytest.mark.parametrize(
    ("key", "secret", "region", "service"),
    [
        ("test", "test", "eu-west-1", "lambda"),  # LocalStack's convention
        ("lamina", "lamina", "us-east-1", "lambda"),
        ("AKIAREAL", "real-secret", "ap-southeast-2", "s3"),
    ],
)
def test_dev_mode_accepts_any_key_and_region_and_names_the_key(
    key: str, secret: str, region: str, service: str
) -> None:
    signed = botocore_signed(
        "GET",
        ENDPOINT + "/2015-03-31/functions/",
        key=key,
        secret=secret,
        region=region,
        service=service,
    )
    assert auth(required=False).check(*signed.args()) == key
    assert auth(required=False, clock=lambda: 0).check(*signed.args()) == key  # no clock check
    # The same request is refused when keys are configured (signed mode is unchanged):
    # the scope is checked first, then the key.
    in_scope = (region, service) == ("us-east-1", "lambda")
    expect(UnrecognizedClient if in_scope else InvalidSignature, signed)


def test_dev_mode_still_refuses_malformed_signatures_and_expired_presigned_urls() -> None:
    headers = {
        "host": HOST,
        "x-amz-date": "20240101T000000Z",
        "authorization": "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host",
    }
    with pytest.raises(IncompleteSignature):
        auth(required=False).check("GET", "/2015-03-31/functions/", headers, b"")
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20240101%2Feu-west-1%2Fs3%2F"
        "aws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" + "0" * 64
    )
    at = amz_date_epoch("20240101T000000Z")
    target = "/bucket/key?" + query
    assert (
        auth(required=False, clock=lambda: at + 59).check("GET", target, {"host": HOST}, b"")
        == "test"
    )
    with pytest.raises(AccessDenied):
        auth(required=False, clock=lambda: at + 61).check("GET", target, {"host": HOST}, b"")


def test_the_clock_may_be_off_by_five_minutes_and_no_more() -> None:
    signed = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/")
    at = amz_date_epoch(signed.headers["x-amz-date"])
    assert auth(clock=lambda: at + 299).check(*signed.args()) == KEY
    assert auth(clock=lambda: at - 299).check(*signed.args()) == KEY
    assert "Signature expired" in expect(InvalidSignature, signed, auth(clock=lambda: at + 301))
    assert "not yet current" in expect(InvalidSignature, signed, auth(clock=lambda: at - 301))


def test_the_credential_scope_must_name_this_region_and_lambda() -> None:
    other_region = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/", region="eu-west-1")
    assert "region" in expect(InvalidSignature, other_region)
    other_service = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/", service="s3")
    assert "service" in expect(InvalidSignature, other_service)


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=xyz",
    ],
    ids=["algorithm", "no-credential", "host-unsigned", "short-scope", "bad-signature-format"],
)
def test_malformed_authorization_headers_are_incomplete_signatures(authorization: str) -> None:
    headers = {"host": HOST, "x-amz-date": "20240101T000000Z", "authorization": authorization}
    with pytest.raises(IncompleteSignature):
        auth().check("GET", "/2015-03-31/functions/", headers, b"")


def test_lamina_signs_exactly_as_botocore_does(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = datetime.datetime(2024, 5, 6, 7, 8, 9)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    target = "/2015-03-31/functions/fn%3A1/invocations?Qualifier=live&A=b%20c"
    body = b'{"k": "v"}'
    headers = {"X-Amz-Invocation-Type": "RequestResponse", "Content-Type": "application/json"}
    theirs = botocore_signed("POST", ENDPOINT + target, body, dict(headers))
    ours = sigv4.sign_headers(
        "POST",
        target,
        {**headers, "host": HOST},
        body,
        access_key=KEY,
        secret=SECRET,
        region="us-east-1",
        service="lambda",
        amz_date="20240506T070809Z",
    )
    assert ours["Authorization"] == theirs.headers["authorization"]


def test_presigned_urls_verify_until_they_expire() -> None:
    now = time.time()
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    path = "/lamina/v1/code/abc.zip"
    query = sigv4.presign_query(
        "GET",
        path,
        HOST,
        access_key=KEY,
        secret=SECRET,
        region="us-east-1",
        service="lambda",
        amz_date=amz_date,
        expires_s=600,
    )
    headers = {"host": HOST}
    assert auth(clock=lambda: now + 10).check("GET", f"{path}?{query}", headers, b"") == KEY
    with pytest.raises(AccessDenied):
        auth(clock=lambda: now + 601).check("GET", f"{path}?{query}", headers, b"")
    with pytest.raises(InvalidSignature):
        auth().check("GET", f"/lamina/v1/code/abd.zip?{query}", headers, b"")
    with pytest.raises(InvalidSignature):
        auth().check("GET", f"{path}?{query}", {"host": "127.0.0.1:9001"}, b"")


def test_botocore_presigned_urls_verify() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/lamina/v1/code/abc.zip")
    SigV4QueryAuth(Credentials(KEY, SECRET), "lambda", "us-east-1", expires=60).add_auth(request)
    parts = urlsplit(request.prepare().url)
    assert auth().check("GET", f"{parts.path}?{parts.query}", {"host": HOST}, b"") == KEY


def test_the_signing_key_is_derived_once_per_day() -> None:
    authenticator = auth()
    for _ in range(3):
        signed = botocore_signed("GET", ENDPOINT + "/2015-03-31/functions/")
        authenticator.check(*signed.args())
    assert len(authenticator._signing_keys) == 1


def test_s3_style_verification_takes_s3_signatures() -> None:
    from botocore.auth import S3SigV4Auth

    request = AWSRequest(
        method="PUT", url=ENDPOINT + "/bucket/dir/a%20b.txt", data=b"hello", headers={}
    )
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {k.lower(): str(v) for k, v in prepared.headers.items()} | {"host": parts.netloc}
    s3 = auth(service="s3", s3_style=True)
    assert s3.check("PUT", parts.path, headers, b"hello") == KEY
    with pytest.raises(InvalidSignature):
        auth(service="s3").check("PUT", parts.path, headers, b"hello")  # Lambda's rules differ
