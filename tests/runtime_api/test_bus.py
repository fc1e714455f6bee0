"""The server's telemetry bus: bounded, ordered, read after a sequence number (pure)."""

from __future__ import annotations

from lamina.runtime_api.bus import BusEvent, TelemetryBus, text_of


def test_the_bus_keeps_the_last_events_of_the_most_recent_functions() -> None:
    bus = TelemetryBus(per_function=3, max_functions=2)
    for i in range(5):
        bus.publish("a", i, "function", f"line {i}\n")
    assert [e.record for e in bus.read("a")] == ["line 2\n", "line 3\n", "line 4\n"]
    assert [e.seq for e in bus.read("a", after=4)] == [5]
    assert bus.read("a", after=1, limit=1)[0].seq == 3
    bus.publish("b", 9, "function", "b")
    bus.publish("c", 9, "function", "c")  # "a" is the least recently active: forgotten
    assert bus.read("a") == [] and bus.seq == 7
    assert [e.record for e in bus.read("b")] == ["b"]


def test_platform_events_read_as_lambdas_lines() -> None:
    report = {
        "requestId": "r1",
        "status": "success",
        "metrics": {"durationMs": 1.5, "billedDurationMs": 2, "memorySizeMB": 128,
                    "maxMemoryUsedMB": 40, "initDurationMs": 80.25},
    }  # fmt: skip
    assert text_of(BusEvent(1, 0, "platform.report", report)) == (
        "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\tInit Duration: 80.25 ms"
    )
    start = {"requestId": "r1", "version": "$LATEST"}
    assert text_of(BusEvent(2, 0, "platform.start", start)) == (
        "START RequestId: r1 Version: $LATEST"
    )
    timeout = {**report, "status": "timeout"}
    assert text_of(BusEvent(3, 0, "platform.report", timeout)).endswith("\tStatus: timeout")
    assert text_of(BusEvent(4, 0, "function", "hello\n")) == "hello"
    ext = {"name": "otel", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}
    assert text_of(BusEvent(5, 0, "platform.extension", ext)) == (
        "EXTENSION\tName: otel\tState: Ready\tEvents: [INVOKE,SHUTDOWN]"
    )
    arn = "arn:aws:lambda:us-east-1::runtime:" + "0f" * 32
    init = {"phase": "init", "runtimeVersion": "python:3.12.v7", "runtimeVersionArn": arn}
    assert text_of(BusEvent(6, 0, "platform.initStart", init)) == (
        f"INIT_START Runtime Version: python:3.12.v7\tRuntime Version ARN: {arn}"
    )


def test_a_function_is_watched_once_read() -> None:
    bus = TelemetryBus()
    assert not bus.watched("a")
    bus.read("a")
    assert bus.watched("a") and not bus.watched("b")
