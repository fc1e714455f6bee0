"""The client: answers that are errors, signed JSON calls on a real socket, paths, endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lamina.client.http import Answer, Client, ClientError, call_json, expect, fn_path
from lamina.client.lambda_api import payload_bytes


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON (204 for DELETE)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "DELETE":
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        seen = {
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization", ""),
        }
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_expected_status_passes_and_another_is_the_apis_error() -> None:
    fine = Answer(201, {}, b"{}")
    assert expect(fine, (200, 201)) is fine
    refused = Answer(
        404,
        {"x-amzn-errortype": "ResourceNotFoundException"},
        json.dumps({"message": "Function not found: f"}).encode(),
    )
    with pytest.raises(ClientError) as err:
        expect(refused, (200,))
    assert (err.value.error_type, err.value.status) == ("ResourceNotFoundException", 404)
    assert str(err.value) == "ResourceNotFoundException: Function not found: f"


def test_an_error_that_is_not_json_keeps_its_text() -> None:
    with pytest.raises(ClientError) as err:
        expect(Answer(502, {}, b"<html>bad gateway</html>"), (200,))
    assert str(err.value) == "502: <html>bad gateway</html>"
    assert err.value.error_type == ""


def test_a_json_call_is_signed_sends_json_and_reads_json(echo: str) -> None:
    client = Client(echo, credentials=("AKIDTEST", "secret"), region="eu-west-1")
    seen = call_json(client, "PUT", "/x?y=1", {"k": "v"})
    assert (seen["method"], seen["path"]) == ("PUT", "/x?y=1")
    assert json.loads(seen["body"]) == {"k": "v"}
    assert seen["content_type"] == "application/json"
    assert (
        seen["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        and "/eu-west-1/lambda/aws4_request" in seen["authorization"]
    )
    assert client.call("DELETE", "/x", ok=(204,)) is None
    with pytest.raises(ClientError) as err:
        client.call("DELETE", "/x")  # 204 was not asked for
    assert err.value.status == 204


def test_function_paths_quote_arns_and_payloads_are_compact_json() -> None:
    assert fn_path("arn:aws:lambda:us-east-1:000000000000:function:f") == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af"
    )
    assert payload_bytes({"a": [1, 2]}) == b'{"a":[1,2]}'
    assert payload_bytes(b"raw") == b"raw"


def test_an_endpoint_must_be_http_host_and_port() -> None:
    for bad in ("https://example.com", "127.0.0.1:9000", "http://"):
        with pytest.raises(ClientError, match="http://host:port"):
            Client(bad, credentials=("AKID", "secret"), region="us-east-1")
    client = Client("http://127.0.0.1:9", credentials=("AKID", "secret"), region="us-east-1")
    with pytest.raises(ClientError, match="cannot reach Lamina"):
        client.request("GET", "/lamina/v1/health")
