"""The Telemetry API's subscriptions and batching, delivered to a real HTTP listener."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lamina.runtime_api.telemetry import Buffering, Telemetry, parse_subscription
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, bound_port, serve


@asynccontextmanager
async def _subscriber() -> AsyncIterator[tuple[int, list[list[dict[str, object]]]]]:
    """A subscriber's HTTP listener on loopback: its port, and the batches it receives."""
    batches: list[list[dict[str, object]]] = []

    def handle(req: Request, conn: HttpConnection) -> Response:
        batches.append(json.loads(req.body))
        return Response(200)

    server = await serve(handle, "127.0.0.1", 0, max_body=1 << 20)
    try:
        yield bound_port(server), batches
    finally:
        server.close()


def _body(port: int = 4243, **extra: object) -> bytes:
    doc = {
        "schemaVersion": "2022-12-13",
        "types": ["platform", "function"],
        "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{port}/in"},
        **extra,
    }
    return json.dumps(doc).encode()


def test_a_subscription_is_parsed_with_lambdas_defaults_and_limits() -> None:
    sub = parse_subscription(_body())
    assert not isinstance(sub, str)
    assert (sub.host, sub.port, sub.path) == ("127.0.0.1", 4243, "/in")
    assert sub.types == {"platform", "function"}
    assert sub.buffering == Buffering(10000, 262144, 1000)
    assert "timeoutMs" in str(parse_subscription(_body(buffering={"timeoutMs": 5})))
    assert "maxItems" in str(parse_subscription(_body(buffering={"maxItems": 10**6})))
    assert "types" in str(parse_subscription(_body(types=["logs"])))
    outside = json.dumps(
        {"types": ["platform"], "destination": {"protocol": "HTTP", "URI": "http://10.0.0.1:80/"}}
    ).encode()
    assert "sandbox.localdomain" in str(parse_subscription(outside))
    older = json.dumps(
        {"types": ["platform"], "destination": {"protocol": "HTTP", "URI": "http://sandbox:4243"}}
    ).encode()
    parsed = parse_subscription(older)
    assert not isinstance(parsed, str) and (parsed.host, parsed.port) == ("127.0.0.1", 4243)


def test_events_arrive_in_batches_in_order_and_init_events_are_replayed() -> None:
    async def main() -> None:
        async with _subscriber() as (port, batches):
            telemetry = Telemetry()
            telemetry.emit("platform", "platform.initStart", {"phase": "init"})
            telemetry.emit("extension", "extension", "not subscribed to")
            buffering = {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25}
            answer = telemetry.subscribe("ext-1", _body(port, buffering=buffering))
            assert answer.status == 200
            telemetry.end_init()
            for i in range(3):
                telemetry.emit("function", "function", f"line {i}")
            await asyncio.sleep(0.2)  # the 25 ms timeout cuts one batch
            telemetry.emit("platform", "platform.report", {"requestId": "r"})
            await telemetry.flush(5)
            types = [[e["type"] for e in batch] for batch in batches]
            assert types[0] == ["platform.initStart", "function", "function", "function"]
            assert types[-1] == ["platform.report"]
            telemetry.close()
            assert not telemetry.active

    asyncio.run(main())


def test_a_logs_api_subscriber_gets_the_older_schema_and_no_init_events() -> None:
    async def main() -> None:
        async with _subscriber() as (port, batches):
            telemetry = Telemetry()
            telemetry.emit("platform", "platform.initStart", {"phase": "init"})
            body = _body(port, schemaVersion="2021-03-18", buffering={"timeoutMs": 25})
            assert telemetry.subscribe("ext", body, legacy=True).status == 200
            ready = {"name": "ext", "state": "Ready", "events": ["INVOKE"]}
            telemetry.emit("platform", "platform.extension", ready)
            telemetry.end_init()
            telemetry.emit("platform", "platform.start", {"requestId": "r", "version": "$LATEST"})
            telemetry.emit("function", "function", "a line")
            telemetry.emit(
                "platform",
                "platform.runtimeDone",
                {"requestId": "r", "status": "success", "metrics": {"durationMs": 1.0}},
            )
            metrics = {"durationMs": 1.0, "billedDurationMs": 1}
            telemetry.emit(
                "platform",
                "platform.report",
                {"requestId": "r", "status": "success", "metrics": metrics},
            )
            await telemetry.flush(5)
            events = [e for batch in batches for e in batch]
            assert [e["type"] for e in events] == [
                "platform.extension",  # the Logs API has it too, in the same shape
                "platform.start",
                "function",
                "platform.runtimeDone",
                "platform.end",
                "platform.report",
            ]
            assert events[0]["record"] == ready
            assert events[1]["record"] == {"requestId": "r", "version": "$LATEST"}
            assert events[-1]["record"] == {"requestId": "r", "metrics": metrics}
            refused = telemetry.subscribe("ext", _body(port), legacy=True)
            assert refused.status == 400  # the Telemetry API's schema is not the Logs API's
            telemetry.close()

    asyncio.run(main())
