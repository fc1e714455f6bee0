"""OTLP export: a real server sends one span per invoke to a collector endpoint.

The receiving end is an HTTP listener in this test (no OpenTelemetry Collector binary is
installable here); every body it gets is parsed with the OTLP protobuf schema
(``opentelemetry-proto``'s ``ExportTraceServiceRequest``), so a malformed export fails.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.events.live import ROLE, client, wait_until
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
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
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


# Says which source invoked it, by the event's shape, in an object of the "seen" bucket
# named for its request id: the test matches each span to its source by that id.
WHO = """
import boto3

def handler(event, context):
    records = event.get("Records") or [{}]
    source = records[0].get("eventSource")
    if event.get("scheduler"):
        kind = "scheduler"  # EventBridge Scheduler's target Input
    elif source == "aws:sqs":
        kind = "sqs"
    elif source == "aws:s3":
        kind = "s3"
    elif event.get("detail-type") == "Scheduled Event":
        kind = "schedule"
    elif event.get("source") == "shop":
        kind = "event-rule"
    elif "requestContext" in event:
        kind = "url"
    else:
        kind = "direct"
    boto3.client("s3").put_object(Bucket="seen", Key=context.aws_request_id, Body=kind)
    return kind
"""

# What each source's spans must say (OpenTelemetry's faas.trigger values).
EXPECTED = {
    "direct": "other",
    "url": "http",
    "sqs": "pubsub",
    "event-rule": "pubsub",
    "s3": "datasource",
    "schedule": "timer",
    "scheduler": "timer",
}


def test_each_spans_faas_trigger_names_the_source_that_invoked(
    tmp_path: Path, collector: Collector
) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {
        "LAMINA_OTLP_ENDPOINT": endpoint,
        "LAMINA_SCHEDULE_TIME_SCALE": "60",  # rate(1 minute) fires every second
    }
    proc = LaminaProcess(tmp_path, env).start()
    try:
        lam, s3, sqs, events = (client(proc.endpoint, s) for s in ("lambda", "s3", "sqs", "events"))
        arn = lam.create_function(
            FunctionName="who", Runtime="python3.12", Handler="app.handler", Role=ROLE,
            Code={"ZipFile": python_zip(WHO)}, Timeout=30,
        )["FunctionArn"]  # fmt: skip
        s3.create_bucket(Bucket="seen")

        assert json.loads(lam.invoke(FunctionName="who", Payload=b"{}")["Payload"].read()) == (
            "direct"
        )
        url = lam.create_function_url_config(FunctionName="who", AuthType="NONE")["FunctionUrl"]
        with urllib.request.urlopen(url + "hello", timeout=60) as resp:
            assert resp.read() == b"url"

        queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="who")
        sqs.send_message(QueueUrl=queue, MessageBody="{}")

        s3.create_bucket(Bucket="uploads")
        s3.put_bucket_notification_configuration(
            Bucket="uploads",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        s3.put_object(Bucket="uploads", Key="a.csv", Body=b"a,b\n")

        events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}))
        events.put_targets(Rule="orders", Targets=[{"Id": "who", "Arn": arn}])
        events.put_events(Entries=[{"Source": "shop", "DetailType": "o", "Detail": "{}"}])
        events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="tick", Targets=[{"Id": "who", "Arn": arn}])
        scheduler = client(proc.endpoint, "scheduler")
        scheduler.create_schedule(
            Name="tock", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"scheduler": true}'},
        )  # fmt: skip

        def seen() -> dict[str, str]:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="seen").get("Contents", [])]
            return {k: s3.get_object(Bucket="seen", Key=k)["Body"].read().decode() for k in keys}

        kinds: dict[str, str] = {}

        def every_source_invoked() -> bool:
            kinds.update(seen())
            return set(kinds.values()) == set(EXPECTED)

        wait_until(every_source_invoked, what="an invoke from each source")
        events.disable_rule(Name="tick")
        scheduler.delete_schedule(Name="tock")
        kinds.update(seen())  # a tick that fired meanwhile

        spans: dict[str, Any] = {}

        def every_span_exported() -> bool:
            for r in list(collector.requests):
                for rs in r.resource_spans:
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            attrs = {a.key: a.value for a in s.attributes}
                            spans[attrs["faas.invocation_id"].string_value] = attrs
            return set(kinds) <= set(spans)

        wait_until(every_span_exported, what="a span for each invoke")
    finally:
        proc.stop()
    triggers = {kinds[rid]: spans[rid]["faas.trigger"].string_value for rid in kinds}
    assert triggers == EXPECTED
    # Every invoke's span, not one per source: ticks that fired twice are timers each.
    for rid, kind in kinds.items():
        assert spans[rid]["faas.trigger"].string_value == EXPECTED[kind], (rid, kind)


def test_a_queued_events_trigger_survives_a_restart(tmp_path: Path, collector: Collector) -> None:
    """An S3 notification waits in the durable async queue (the function's reserved
    concurrency is 0: every attempt is throttled) while the server restarts; once it can
    run, its span still says ``datasource``."""
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {"LAMINA_OTLP_ENDPOINT": endpoint, "LAMINA_ASYNC_THROTTLE_MAX_S": "0.3"}
    proc = LaminaProcess(tmp_path, env).start()
    try:
        lam, s3 = client(proc.endpoint, "lambda"), client(proc.endpoint, "s3")
        arn = lam.create_function(
            FunctionName="who", Runtime="python3.12", Handler="app.handler", Role=ROLE,
            Code={"ZipFile": python_zip(WHO)}, Timeout=30,
        )["FunctionArn"]  # fmt: skip
        lam.put_function_concurrency(FunctionName="who", ReservedConcurrentExecutions=0)
        s3.create_bucket(Bucket="seen")
        s3.create_bucket(Bucket="uploads")
        s3.put_bucket_notification_configuration(
            Bucket="uploads",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        s3.put_object(Bucket="uploads", Key="a.csv", Body=b"a,b\n")

        def stored() -> list[tuple[str, str]]:
            with sqlite3.connect(tmp_path / "async-invokes.db") as db:
                return db.execute("SELECT request_id, faas_trigger FROM events").fetchall()

        wait_until(lambda: bool(stored()), what="the queued S3 event")
        [(rid, trigger)] = stored()
        assert trigger == "datasource"
        proc.stop()
        proc.start()
        client(proc.endpoint, "lambda").delete_function_concurrency(FunctionName="who")
        s3 = client(proc.endpoint, "s3")

        def delivered() -> bool:
            return bool(s3.list_objects_v2(Bucket="seen").get("Contents"))

        wait_until(delivered, what="the event's delivery after the restart")
        assert s3.get_object(Bucket="seen", Key=rid)["Body"].read() == b"s3"

        found: list[Any] = []

        def exported() -> bool:
            found[:] = [
                s
                for r in list(collector.requests)
                for rs in r.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
                if any(
                    a.key == "faas.invocation_id" and a.value.string_value == rid
                    for a in s.attributes
                )
            ]
            return bool(found)

        wait_until(exported, what="the event's span")
    finally:
        proc.stop()
    attrs = {a.key: a.value for a in found[0].attributes}
    assert attrs["faas.trigger"].string_value == "datasource"
