"""OTLP export: a real server sends one span per invoke to a collector endpoint.

The receiving end is an HTTP listener in this test (no OpenTelemetry Collector binary is
installable here); every body it gets is parsed with the OTLP protobuf schema
(``opentelemetry-proto``'s ``ExportTraceServiceRequest``), so a malformed export fails.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CODE = """
import os

def handler(event, context):
    if event.get("fail"):
        raise ValueError("no")
    return [context.aws_request_id, os.environ.get("_X_AMZN_TRACE_ID")]
"""


class Collector(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        # OTLP/JSON sends ids as hex (not protobuf JSON's base64), as receivers expect.
        for rs in body["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId"):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        msg = trace_service_pb2.ExportTraceServiceRequest()
        json_format.ParseDict(body, msg)  # raises on anything the schema does not allow
        self.server.paths.append(self.path)
        self.server.requests.append(msg)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_one_span_per_invoke(tmp_path: Path, collector: Collector) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    proc = LaminaProcess(tmp_path, {"LAMINA_OTLP_ENDPOINT": endpoint}).start()
    try:
        lam = boto3.client(
            "lambda", endpoint_url=proc.endpoint, region_name="us-east-1",
            aws_access_key_id="AKID", aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 0}),
        )  # fmt: skip
        lam.create_function(
            FunctionName="traced", Runtime="python3.12", Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": python_zip(CODE)},
        )  # fmt: skip
        ids = [json.loads(lam.invoke(FunctionName="traced", Payload=b"{}")["Payload"].read())
               for _ in range(2)]  # fmt: skip
        failed = lam.invoke(FunctionName="traced", Payload=b'{"fail": true}')
        assert failed["FunctionError"] == "Unhandled"
        deadline = time.monotonic() + 30
        spans: list[Any] = []
        while time.monotonic() < deadline and len(spans) < 3:
            spans = [
                s
                for r in list(collector.requests)
                for rs in r.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            ]
            time.sleep(0.2)
    finally:
        proc.stop()
    assert set(collector.paths) == {"/v1/traces"}
    assert len(spans) == 3
    by_trace = {s.trace_id.hex(): s for s in spans}
    for rid, header in ids:
        # The span carries the trace and span ids the function was handed: its own spans
        # (X-Ray propagation) are children of Lamina's.
        fields = dict(part.split("=", 1) for part in header.split(";"))
        _, epoch, rest = fields["Root"].split("-")
        s = by_trace[epoch + rest]
        assert s.span_id.hex() == fields["Parent"]
        attrs = {a.key: a.value for a in s.attributes}
        assert attrs["faas.invocation_id"].string_value == rid
        assert attrs["faas.name"].string_value == "traced"
        assert s.status.code == 1 and s.end_time_unix_nano > s.start_time_unix_nano
    colds = [
        s for s in spans if {a.key: a.value for a in s.attributes}["faas.coldstart"].bool_value
    ]
    assert len(colds) == 1
    assert any(a.key == "lamina.init_duration_ms" for a in colds[0].attributes)
    assert sum(1 for s in spans if s.status.code == 2) == 1
