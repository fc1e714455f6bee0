"""The daemon keeps only what an environment may send, rate-limited, and counts the rest."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from lamina.xray import daemon as daemon_module
from lamina.xray.daemon import GRACE_S, HOST_OWNER, SOCKET_RATE, XrayDaemon
from lamina.xray.traces import TraceStore

TRACE = "1-6b151031-e7b9ed85fbe14103ac015b76"
OTHER = "1-6b151031-000000000000000000000009"
PARENT = "ac015b766c04743d"
HEADER = f"Root={TRACE};Parent={PARENT};Sampled=1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def datagram(trace: str = TRACE, ident: str = "0000000000000001") -> bytes:
    body = {"name": "work", "id": ident, "trace_id": trace, "start_time": 1.8e9,
            "end_time": 1.8e9 + 0.25, "type": "subsegment", "parent_id": PARENT,
            "annotations": {"k": "v"}}  # fmt: skip
    return b'{"format":"json","version":1}\n' + json.dumps(body).encode()


def make(clock: Clock) -> tuple[XrayDaemon, list[tuple[str, list[dict[str, Any]]]]]:
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    daemon = XrayDaemon(TraceStore(), lambda fn, spans: sent.append((fn, spans)), clock=clock)
    return daemon, sent


def test_an_environment_may_write_only_the_traces_it_was_handed() -> None:
    clock = Clock()
    daemon, sent = make(clock)
    daemon._sockets[5] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon._sockets[6] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon._sockets[7] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon.expect("fn", (5, 7), 3.0, HEADER)  # its own socket and its zygote's
    daemon.expect("fn", (5,), 3.0, f"Root={OTHER};Parent={PARENT};Sampled=0")  # not sampled
    daemon.received(datagram(), 6)  # another environment's socket
    daemon.received(datagram(OTHER), 5)  # a trace it was handed unsampled
    assert daemon.accepted == 0
    assert daemon.dropped == {("", "foreign trace"): 2}
    daemon.received(datagram(), 5)
    daemon.received(datagram(ident="0000000000000003"), 7)
    assert daemon.accepted == 2
    sent.pop()
    # The OTLP span: X-Ray's ids, mapped as OpenTelemetry's X-Ray propagator maps them.
    ((function, (span,)),) = sent
    assert function == "fn"
    assert span["traceId"] == TRACE[2:].replace("-", "") and span["parentSpanId"] == PARENT
    assert span["spanId"] == "0000000000000001" and span["name"] == "work"
    assert {"key": "k", "value": {"stringValue": "v"}} in span["attributes"]
    # After the invocation's deadline and the grace period, the trace is closed to it.
    clock.now += 3.0 + GRACE_S + 1
    daemon.received(datagram(ident="0000000000000002"), 5)
    assert daemon.dropped[("", "foreign trace")] == 3 and daemon.accepted == 2


def test_the_shared_socket_takes_any_trace_handed_out_there_and_garbage_is_counted() -> None:
    clock = Clock()
    daemon, _ = make(clock)
    daemon._sockets[HOST_OWNER] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon.expect("fn", (HOST_OWNER,), 3.0, HEADER)
    daemon.received(datagram(), HOST_OWNER)
    daemon.received(b"\x00garbage", HOST_OWNER)
    daemon.received(b'{"format":"json","version":1}\n{"name": 1}', HOST_OWNER)
    assert daemon.accepted == 1
    assert daemon.dropped == {("", "no header"): 1, ("", "bad trace_id"): 1}


def test_a_socket_over_its_rate_is_dropped_before_parsing_and_refills(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    daemon, _ = make(clock)
    daemon._sockets[5] = daemon_module.Bucket(SOCKET_RATE, 1e12, clock)
    for _ in range(int(SOCKET_RATE) + 10):
        daemon.received(b"garbage", 5)
    assert daemon.dropped == {("", "no header"): SOCKET_RATE, ("", "rate"): 10}
    clock.now += 1.0
    daemon.received(b"garbage", 5)
    assert daemon.dropped[("", "no header")] == SOCKET_RATE + 1
    clock.now += daemon_module.REPORT_EVERY_S
    with caplog.at_level("WARNING", logger="lamina.xray"):
        daemon.received(b"garbage", 5)
    assert "segment documents dropped" in caplog.text and "10 rate" in caplog.text


def test_a_function_over_its_rate_is_dropped_after_parsing() -> None:
    clock = Clock()
    daemon, _ = make(clock)
    daemon._sockets[5] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon.expect("fn", (5,), 3.0, HEADER)
    for i in range(int(daemon_module.FUNCTION_RATE) + 5):
        daemon.received(datagram(ident=f"{i:016x}"), 5)
    assert daemon.dropped == {("fn", "rate"): 5}


def test_a_real_socket_flooded_with_garbage_keeps_the_loop_turning() -> None:
    async def scenario() -> tuple[XrayDaemon, int]:
        daemon = XrayDaemon(TraceStore())
        address = await daemon.start()
        host, port = address.split(":")
        daemon.expect("fn", (HOST_OWNER,), 3.0, HEADER)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(datagram(), (host, int(port)))
            for i in range(2000):
                sender.sendto(b"\xff" * (i % 2000), (host, int(port)))
                if i % 100 == 0:
                    await asyncio.sleep(0)
            for _ in range(200):
                await asyncio.sleep(0.005)
                if daemon.accepted + sum(daemon.dropped.values()) >= 2001:
                    break
        task.cancel()
        daemon.close()
        return daemon, ticks

    daemon, ticks = asyncio.run(scenario())
    assert daemon.accepted == 1
    assert daemon.store.traces([TRACE])[0][0]["Segments"][0]["Id"] == "0000000000000001"
    # Each garbage datagram was read and counted (none crashed the protocol); datagrams the
    # kernel's receive buffer could not hold never arrived.
    assert 0 < sum(daemon.dropped.values()) <= 2000
    assert set(daemon.dropped) <= {("", "no header"), ("", "rate")}
    assert ticks > 0


def test_all_sockets_together_are_bounded_however_many_environments_flood() -> None:
    clock = Clock()
    daemon, _ = make(clock)
    daemon._total = daemon_module.Bucket(10, 1e12, clock)
    for owner in (5, 6):
        daemon._sockets[owner] = daemon_module.Bucket(1e9, 1e12, clock)
    for _ in range(6):
        daemon.received(b"garbage", 5)
        daemon.received(b"garbage", 6)
    assert daemon.dropped == {("", "no header"): 10, ("", "rate"): 2}


def test_json_objects_are_budgeted_before_parsing_and_one_socket_leaves_the_others_room() -> None:
    clock = Clock()
    daemon, _ = make(clock)
    daemon._total = daemon_module.Bucket(1e9, 1e12, clock, 4 * 1001)  # the header has one
    daemon._sockets[5] = daemon_module.Bucket(1e9, 1e12, clock, 2 * 1001)
    daemon._sockets[6] = daemon_module.Bucket(1e9, 1e12, clock, 2 * 1001)
    nested = b'{"format":"json","version":1}\n' + b"[" * 1000
    for _ in range(4):
        daemon.received(nested, 5)  # two parsed, two over the socket's budget
    assert daemon.dropped == {("", "not JSON"): 2, ("", "rate"): 2}
    for _ in range(3):
        daemon.received(nested, 6)  # the other socket still has its share of the total
    assert daemon.dropped == {("", "not JSON"): 4, ("", "rate"): 3}


def test_a_trace_passing_through_two_environments_takes_documents_from_both() -> None:
    """A function invoking another continues its trace: the caller's subsegment of the
    call ends after the callee was handed the same root, and is still kept."""
    clock = Clock()
    daemon, _ = make(clock)
    for owner in (HOST_OWNER, 5, 6):
        daemon._sockets[owner] = daemon_module.Bucket(1e9, 1e12, clock)
    daemon.expect("caller", (5,), 3.0, HEADER)
    daemon.expect("callee", (6,), 3.0, HEADER.replace(PARENT, "00000000000000cd"))
    daemon.received(datagram(ident="0000000000000002"), 6)
    daemon.received(datagram(ident="0000000000000001"), 5)
    # Handed only to environments in namespaces: the host's socket may not add to it.
    daemon.received(datagram(ident="0000000000000003"), HOST_OWNER)
    assert daemon.accepted == 2 and daemon.dropped == {("", "foreign trace"): 1}
    found, _ = daemon.store.traces([TRACE])
    assert {s["Id"] for s in found[0]["Segments"]} == {"0000000000000001", "0000000000000002"}
