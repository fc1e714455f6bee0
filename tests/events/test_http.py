"""Function URLs and API routes: the events functions get, and the answers clients see."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)

from lamina.errors import ConfigError, InvalidSignature
from lamina.events.http.handlers import ApiRoutesHandler, FunctionUrlHandler
from lamina.events.http.response import answer_v1, answer_v2
from lamina.events.http.routes import parse_routes
from lamina.models.function_url import Cors, FunctionUrlConfig
from tests.events.helpers import Call, ScriptedFunction
from tests.events.servers import LoopThread

URL_ID = "abcdefghijklmnopqrstuvwxyz012345"


def test_v2_answers_with_status_headers_cookies_and_base64() -> None:
    a = answer_v2(
        json.dumps(
            {
                "statusCode": 201,
                "headers": {"x-a": "1"},
                "cookies": ["s=1; HttpOnly", "t=2"],
                "body": base64.b64encode(b"\x00\x01").decode(),
                "isBase64Encoded": True,
            }
        ).encode(),
        None,
    )
    assert a.status == 201 and a.body == b"\x00\x01"
    assert ("set-cookie", "s=1; HttpOnly") in a.headers and ("set-cookie", "t=2") in a.headers
    assert ("content-type", "application/json") in a.headers


def test_v2_answers_without_status_code_are_json_bodies() -> None:
    assert answer_v2(b'{"items":[1,2]}', None).body == b'{"items": [1, 2]}'
    plain = answer_v2(b'"hello"', None)
    assert plain.status == 200 and plain.body == b"hello"
    assert ("content-type", "application/json") in plain.headers
    assert answer_v2(b"[1]", None).body == b"[1]"
    assert answer_v2(b"{}", "Unhandled").status == 502
    assert answer_v2(b'{"statusCode":"abc"}', None).status == 502


def test_v1_answers_need_a_status_code_and_merge_multi_value_headers() -> None:
    a = answer_v1(
        b'{"statusCode":200,"headers":{"a":"1"},"multiValueHeaders":{"b":["x","y"]},"body":"ok"}',
        None,
    )
    assert a.status == 200 and a.body == b"ok"
    assert a.headers == [("a", "1"), ("b", "x"), ("b", "y")]
    assert answer_v1(b'{"body":"no status"}', None).status == 502
    assert answer_v1(b'"text"', None).status == 502


def test_routes_pick_the_most_specific_match() -> None:
    api = parse_routes(
        {
            "routes": [
                {"route": "GET /items/{id}", "function": "get-item"},
                {"route": "GET /items/special", "function": "special"},
                {"route": "ANY /items/{id}", "function": "any-item"},
                {"route": "ANY /{proxy+}", "function": "proxy", "payloadFormatVersion": "1.0"},
                {"route": "$default", "function": "fallback"},
            ]
        }
    )

    def fn(method: str, path: str) -> tuple[str, dict[str, str]]:
        found = api.find(method, path)
        assert found is not None
        return found[0].function, found[1]

    assert fn("GET", "/items/42") == ("get-item", {"id": "42"})
    assert fn("GET", "/items/special") == ("special", {})
    assert fn("DELETE", "/items/42") == ("any-item", {"id": "42"})
    assert fn("GET", "/a/b/c") == ("proxy", {"proxy": "a/b/c"})
    assert fn("GET", "/") == ("fallback", {})
    with pytest.raises(ConfigError):
        parse_routes({"routes": [{"route": "GET /{p+}/x", "function": "f"}]})
    with pytest.raises(ConfigError):
        parse_routes({"routes": [{"route": "FETCH /x", "function": "f"}]})


def echo(call: Call) -> bytes:
    event = call.json()
    if event.get("rawPath") == "/cookies":
        return json.dumps({"statusCode": 200, "cookies": ["a=1", "b=2"], "body": "set"}).encode()
    return json.dumps({"statusCode": 200, "body": json.dumps(event)}).encode()


def request(
    base: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, resp.getheaders(), resp.read()
    conn.close()
    return out


@pytest.fixture
def url_server() -> Iterator[tuple[str, ScriptedFunction, LoopThread]]:
    fn = ScriptedFunction(echo)
    configs = {
        URL_ID: FunctionUrlConfig(
            "web",
            None,
            URL_ID,
            "NONE",
            cors=Cors(allow_origins=("https://app.example",), allow_methods=("GET", "POST")),
        ),
        "i" * 32: FunctionUrlConfig("web", "live", "i" * 32, "AWS_IAM"),
    }

    def verify(method: str, target: str, headers: Any, body: bytes) -> str:
        if headers.get("authorization") != "AWS4-HMAC-SHA256 good":
            raise InvalidSignature("bad signature")
        return "AKIDCALLER"

    handler = FunctionUrlHandler(
        configs.get, fn, region="us-east-1", account="000000000000", verify=verify
    )
    loop = LoopThread()
    server, base = loop.serve(handler.handle)
    yield base, fn, loop
    loop.call(server.close)
    loop.stop()


def test_a_function_url_delivers_the_2_0_event(
    url_server: tuple[str, ScriptedFunction, LoopThread],
) -> None:
    base, fn, _ = url_server
    status, _, body = request(
        base,
        "POST",
        f"/lambda-url/{URL_ID}/orders/a%20b?x=1&x=2&y=",
        b'{"n":1}',
        {"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2", "X-Multi": "one"},
    )
    assert status == 200
    event = json.loads(body)
    parsed = APIGatewayProxyEventV2Model(**event)
    assert event["rawPath"] == "/orders/a%20b" and event["rawQueryString"] == "x=1&x=2&y="
    assert parsed.requestContext.http.path == "/orders/a b"
    assert parsed.requestContext.http.method == "POST"
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one" and event["body"] == '{"n":1}'
    assert event["isBase64Encoded"] is False and event["routeKey"] == "$default"
    assert event["requestContext"]["domainName"] == f"{URL_ID}.lambda-url.us-east-1.on.aws"
    assert fn.calls[0].function == "web" and fn.calls[0].qualifier is None
    assert fn.calls[0].trigger == "http"  # faas.trigger of its span (lamina.triggers)


def test_binary_bodies_arrive_base64_and_cookies_go_out_as_set_cookie(
    url_server: tuple[str, ScriptedFunction, LoopThread],
) -> None:
    base, _, _ = url_server
    _, _, body = request(
        base, "PUT", f"/lambda-url/{URL_ID}/bin", b"\x89PNG\x00", {"Content-Type": "image/png"}
    )
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00"
    status, headers, body = request(base, "GET", f"/lambda-url/{URL_ID}/cookies")
    assert status == 200 and body == b"set"
    assert [v for k, v in headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]


def test_host_addressing_keeps_the_path_untouched(
    url_server: tuple[str, ScriptedFunction, LoopThread],
) -> None:
    base, _, _ = url_server
    _, _, body = request(
        base,
        "GET",
        "/lambda-url/not-a-prefix/x",
        headers={"Host": f"{URL_ID}.lambda-url.us-east-1.localhost"},
    )
    assert json.loads(body)["rawPath"] == "/lambda-url/not-a-prefix/x"


def test_cors_preflight_and_headers(url_server: tuple[str, ScriptedFunction, LoopThread]) -> None:
    base, fn, _ = url_server
    status, headers, _ = request(
        base,
        "OPTIONS",
        f"/lambda-url/{URL_ID}/",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    h = {k.lower(): v for k, v in headers}
    assert status == 200 and h["access-control-allow-origin"] == "https://app.example"
    assert h["access-control-allow-methods"] == "GET,POST"
    assert fn.calls == []  # a preflight never reaches the function
    _, headers, _ = request(
        base, "GET", f"/lambda-url/{URL_ID}/", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in {k.lower() for k, _ in headers}


def test_aws_iam_urls_refuse_unsigned_and_badly_signed_requests(
    url_server: tuple[str, ScriptedFunction, LoopThread],
) -> None:
    base, fn, _ = url_server
    path = f"/lambda-url/{'i' * 32}/"
    assert request(base, "GET", path)[0] == 403
    assert request(base, "GET", path, headers={"Authorization": "AWS4-HMAC-SHA256 bad"})[0] == 403
    status, _, body = request(base, "GET", path, headers={"Authorization": "AWS4-HMAC-SHA256 good"})
    assert status == 200
    event = json.loads(body)
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIDCALLER"
    assert fn.calls[-1].qualifier == "live"
    APIGatewayProxyEventV2Model(**event)
    assert request(base, "GET", f"/lambda-url/{'z' * 32}/")[0] == 404


def test_api_routes_deliver_payload_1_0_and_2_0() -> None:
    fn = ScriptedFunction(echo)
    api = parse_routes(
        {
            "apiId": "shop",
            "routes": [
                {"route": "GET /items/{id}", "function": "items", "payloadFormatVersion": "1.0"},
                {"route": "POST /items", "function": "items:live"},
            ],
        }
    )
    loop = LoopThread()
    handler = ApiRoutesHandler(api, fn, region="us-east-1", account="000000000000")
    server, base = loop.serve(handler.handle)
    try:
        status, _, body = request(base, "GET", "/items/42?tag=a&tag=b", headers={"X-A": "1"})
        assert status == 200
        v1 = json.loads(body)
        APIGatewayProxyEventModel(**v1)
        assert v1["resource"] == "/items/{id}" and v1["path"] == "/items/42"
        assert v1["httpMethod"] == "GET" and v1["pathParameters"] == {"id": "42"}
        assert v1["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
        assert v1["queryStringParameters"] == {"tag": "b"}
        assert v1["multiValueHeaders"]["x-a"] == ["1"]
        status, _, body = request(base, "POST", "/items", b"x", {"Content-Type": "text/plain"})
        v2 = json.loads(body)
        APIGatewayProxyEventV2Model(**v2)
        assert v2["routeKey"] == "POST /items" and v2["requestContext"]["apiId"] == "shop"
        assert fn.calls[-1].qualifier == "live"
        assert [c.trigger for c in fn.calls] == ["http", "http"]
        assert request(base, "DELETE", "/items")[0] == 404
    finally:
        loop.call(server.close)
        loop.stop()
