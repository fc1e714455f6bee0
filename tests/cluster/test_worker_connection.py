"""A real worker process behind the framed connection, without Ray: the invoke path.

The control-plane side (router, placement, code store, ledger records, log store) talks
to ``python -m lamina.cluster.worker`` over loopback, as it does to a node's worker (the
rig is in :mod:`tests.cluster.workers`).
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from lamina.cluster.connection import NodeConnection
from lamina.cluster.frames import NodeState
from lamina.errors import NodeLeaving, NodeLost, TooManyRequests
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.scheduler.driver import InvokeRequest
from tests.cluster.workers import Control, WorkerRig, calls_of, until
from tests.integration.harness import zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_invokes_run_on_the_node_and_bill_and_log_on_the_control_plane(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, records, logs, cfg = c.router, c.records, c.logs, rig.cfg
        asked = InvokeRequest(cfg, b'{"n":1}', "arn:test", tail=True)  # no request id
        first = await r.invoke(asked)
        assert asked.request_id == "" and len(first.request_id) == 36  # one given, a copy's
        second = await r.invoke(InvokeRequest(cfg, b'{"n":2}', "arn:test"))
        a, b = json.loads(first.payload), json.loads(second.payload)
        assert a["echo"] == {"n": 1} and b["echo"] == {"n": 2}
        assert a["env"] == b["env"]  # the warm environment served the second
        assert a["key"] == "AKIDROLEECHO"  # the role's credentials came with the event
        assert first.node == second.node == "n1"
        assert b"REPORT RequestId: " + first.request_id.encode() in first.log_tail
        assert second.log_tail == b""  # not asked for: not sent
        assert (await c.shipped(first.request_id)).cold
        assert not (await c.shipped(second.request_id)).cold
        # What started it (the OTLP span's faas.trigger) goes to the node and comes back.
        third = await r.invoke(InvokeRequest(cfg, b'{"n":3}', "arn:test", trigger="timer"))
        await c.shipped(third.request_id)
        # Each record is written once (an answer's "load as before" repeats no records).
        assert [rec.request_id for rec in records] == [
            first.request_id,
            second.request_id,
            third.request_id,
        ]
        assert {rec.node for rec in records} == {"n1"}  # the bill names the node
        assert [rec.trigger for rec in records] == ["other", "other", "timer"]
        logs.flush()
        events = logs.read("echo")
        text = "\n".join(e.message for e in events)
        # The environment's log stream names the node: [$LATEST]<node>.<32 hex>.
        assert {e.stream.split("]")[1].split(".")[0] for e in events} == {"n1"}
        assert f"START RequestId: {first.request_id}" in text
        assert f"REPORT RequestId: {second.request_id}" in text
        assert "hello from" in text
        assert r.placement.active("echo") == 0

    rig.run(scenario)


def test_a_wrong_token_is_refused(rig: WorkerRig) -> None:
    def ignore(node: str, state: NodeState) -> None:
        raise AssertionError("no state without the token")

    async def scenario() -> None:
        conn = NodeConnection("127.0.0.1", rig.port, "wrong", ignore, lambda c: None)
        with pytest.raises(ConnectionError):
            await conn.open()

    asyncio.run(scenario())


def test_a_dead_worker_fails_its_invokes_with_node_lost(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, slow = c.router, rig.cfg.with_changes(timeout_s=30)
        pending = asyncio.ensure_future(r.invoke(InvokeRequest(slow, b'{"sleep":20}', "arn:test")))
        await asyncio.sleep(1.0)
        assert not pending.done()
        rig.proc.kill()
        with pytest.raises(NodeLost):
            await pending
        assert not r.attached("n1")
        assert r.placement.live() == []
        assert r.placement.active() == 0

    rig.run(scenario)


def test_a_changed_function_is_drained_on_the_nodes(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, cfg = c.router, rig.cfg
        first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:test"))
        node = r.placement.nodes["n1"]
        assert node.idle.get(cfg.cache_key) == 1 and node.used_mb == cfg.memory_mb
        r.drain("echo")
        assert await until(lambda: not node.idle.get(cfg.cache_key) and node.used_mb == 0)
        again = await r.invoke(InvokeRequest(cfg, b"{}", "arn:test"))
        assert (await c.shipped(again.request_id)).cold
        assert json.loads(again.payload)["env"] != json.loads(first.payload)["env"]

    rig.run(scenario)


def test_a_leaving_node_finishes_its_invokes_and_takes_no_new_ones(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, cfg = c.router, rig.cfg.with_changes(timeout_s=30)
        running = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b'{"sleep":2}', "arn:t")))
        await asyncio.sleep(1.0)
        rig.proc.send_signal(signal.SIGTERM)  # scale-down: the node is told to go
        assert await until(lambda: not r.placement.nodes["n1"].alive, pause_s=0.05)
        with pytest.raises(TooManyRequests):  # no other node has room for it
            await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        # One that raced the notice in is refused unrun (the router places it again).
        with pytest.raises(NodeLeaving):
            await r.connections["n1"].invoke(InvokeRequest(cfg, b"{}", "arn:t", "rid-1"))
        done = await running
        assert json.loads(done.payload)["echo"] == {"sleep": 2}
        assert await asyncio.to_thread(rig.proc.wait, 30) == 0
        assert done.request_id in [rec.request_id for rec in c.records]

    rig.run(scenario)


def test_new_invokes_go_to_another_node_while_one_leaves(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, cfg = c.router, rig.cfg.with_changes(timeout_s=30)
        first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        running = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b'{"sleep":2}', "arn:t")))
        await asyncio.sleep(1.0)
        c.workers[first.node].send_signal(signal.SIGTERM)
        await until(lambda: not r.placement.nodes[first.node].alive, pause_s=0.05)
        elsewhere = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        assert elsewhere.node != first.node
        assert (await running).node == first.node  # it finished where it ran

    rig.run(scenario, more_nodes=["n2"])


def test_a_node_full_of_idle_environments_stops_the_oldest_for_a_cold_start(
    rig: WorkerRig,
) -> None:
    async def scenario(c: Control) -> None:
        r = c.router
        node = r.placement.nodes["n1"]  # 1024 MB for environments
        fns = [rig.cfg.with_changes(name=f"f{i}", memory_mb=512) for i in range(3)]
        for cfg in fns[:2]:
            await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        assert (node.used_mb, node.idle_mb) == (1024, 1024)
        third = await r.invoke(InvokeRequest(fns[2], b"{}", "arn:t"))
        assert third.function_error is None
        assert (await c.shipped(third.request_id)).cold
        assert node.used_mb <= node.capacity_mb
        assert fns[0].cache_key not in {k for k, v in node.idle.items() if v}  # the oldest
        assert node.idle.get(fns[1].cache_key) == 1

    rig.run(scenario)


def test_concurrent_cold_starts_ship_the_package_once(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, cfg = c.router, rig.cfg
        sent = calls_of(r.connections["n1"], "send_code")
        results = await asyncio.gather(
            *(r.invoke(InvokeRequest(cfg, b"{}", "arn:t")) for _ in range(4))
        )
        assert all(res.function_error is None for res in results)
        assert [sha for sha, _ in sent] == [cfg.code_sha256]

    rig.run(scenario)


# A custom runtime that streams 32 pieces of 64 KiB as fast as bash can write them.
BIG_STREAM = r"""#!/bin/bash
API=$AWS_LAMBDA_RUNTIME_API
while :; do
  exec 3<>"/dev/tcp/${API%:*}/${API##*:}"
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rt\r\nConnection: close\r\n\r\n' >&3
  RID=""
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in lambda-runtime-aws-request-id:*) RID=${line#*: } ;; esac
  done
  exec 3<&-
  exec 3<>"/dev/tcp/${API%:*}/${API##*:}"
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rt\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-big\r\nConnection: close\r\n\r\n' "$RID" >&3
  for i in $(seq 1 32); do
    printf '10000\r\n' >&3
    cat "${LAMBDA_TASK_ROOT:-.}/blob" >&3
    printf '\r\n' >&3
  done
  printf '0\r\n\r\n' >&3
  cat <&3 >/dev/null
  exec 3<&-
done
"""


def big_stream_function(rig: WorkerRig, timeout_s: int = 3) -> FunctionConfig:
    """:data:`BIG_STREAM` with its 64 KiB blob, put in the rig's code store as ``big``."""
    pkg = rig.store.put_zip(
        zip_files({"bootstrap": BIG_STREAM, "blob": "a" * 65536}, executable=("bootstrap",))
    )
    return FunctionConfig(
        "big", "provided.al2023", "bootstrap", pkg.sha256_hex, pkg.size, timeout_s=timeout_s
    )


def test_a_stream_crosses_the_connection_held_back_by_a_slow_reader(rig: WorkerRig) -> None:
    cfg = big_stream_function(rig, timeout_s=60)

    async def scenario(c: Control) -> None:
        r = c.router
        flow_calls = calls_of(r.connections["n1"], "_send_flow")
        # A reader far slower than the function, with a small buffer on this side.
        stream = ResponseStream(20 * 1024 * 1024, high_water=64 * 1024)
        task = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b"{}", "arn:big", stream=stream)))
        await stream.started
        assert stream.content_type == "application/x-big"
        got = 0
        while (data := await stream.read()) is not None:
            assert set(data) == {ord("a")}
            got += len(data)
            await asyncio.sleep(0.02)
        result = await task
        assert result.function_error is None and result.node == "n1"
        assert got == 32 * 65536
        # The reader's buffer filled: the worker was told to hold back, then go on.
        flow = [op for op, _ in flow_calls]
        assert "pause" in flow and flow.count("pause") == flow.count("resume"), flow
        rec = await c.shipped(result.request_id)
        assert rec.function_name == "big"

    rig.run(scenario)


def test_a_stream_refused_by_a_leaving_node_streams_from_another(rig: WorkerRig) -> None:
    cfg = big_stream_function(rig)

    async def scenario(c: Control) -> None:
        r = c.router
        r.placement.lose("n2")  # so that this one runs on n1 and keeps it up a while
        slow = rig.cfg.with_changes(timeout_s=30)
        running = asyncio.ensure_future(r.invoke(InvokeRequest(slow, b'{"sleep":3}', "a")))
        await asyncio.sleep(1.0)
        rig.proc.send_signal(signal.SIGTERM)  # n1 leaves
        await until(lambda: not r.placement.nodes["n1"].alive, pause_s=0.05)
        # The race: the control plane places on n1 before it heard n1 is leaving.
        r.placement.join("n1", 1024, 2)
        leaving = r.connections["n1"]
        real = leaving.invoke
        refused: list[str] = []

        async def first_attempt(
            req: InvokeRequest, *args: object, **kwargs: object
        ) -> InvokeResult:
            try:
                return await real(req, *args, **kwargs)  # type: ignore[arg-type]
            except NodeLeaving:
                refused.append(req.request_id)
                r.placement.lose("n1")  # what the control plane learns next
                r.placement.join("n2", 1024, 2)
                raise

        leaving.invoke = first_attempt  # type: ignore[method-assign]
        stream = ResponseStream(20 * 1024 * 1024)
        task = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b"{}", "arn:big", stream=stream)))
        got = 0
        while (data := await stream.read()) is not None:
            got += len(data)
        result = await task
        assert result.node == "n2" and result.function_error is None
        assert got == 32 * 65536  # the first attempt's end did not end the stream
        assert refused == [result.request_id]
        assert (await running).node == "n1"

    rig.run(scenario, more_nodes=["n2"])


def test_a_leaving_nodes_warm_environment_is_started_again_on_another(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r, cfg = c.router, rig.cfg
        r.placement.lose("n2")  # the first runs on n1 and stays warm there
        first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        r.placement.join("n2", 1024, 2)
        assert first.node == "n1" and r.placement.nodes["n2"].idle.get(cfg.cache_key, 0) == 0
        rig.proc.send_signal(signal.SIGTERM)  # n1 leaves: its warm one moves to n2
        n2 = r.placement.nodes["n2"]
        assert await until(lambda: n2.idle.get(cfg.cache_key, 0) == 1, tries=100)
        again = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
        assert again.node == "n2"
        assert not (await c.shipped(again.request_id)).cold  # warm at once
        assert json.loads(again.payload)["key"] == "AKIDROLEECHO"  # its role's keys

    rig.run(scenario, more_nodes=["n2"])
