"""A real worker process behind the framed connection, without Ray: the invoke path.

The control-plane side (router, placement, code store, ledger records, log store) talks
to ``python -m lamina.cluster.worker`` over loopback, as it does to a node's worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.cluster.connection import NodeConnection
from lamina.cluster.frames import NodeState
from lamina.cluster.placement import Placement
from lamina.cluster.router import ClusterRouter
from lamina.errors import NodeLeaving, NodeLost, TooManyRequests
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.scheduler.driver import InvokeRequest
from lamina.store.code import CodeStore
from tests.integration.harness import python_zip, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

TOKEN = "t" * 64
SOURCE = """
import os
import time
import uuid
import boto3  # provided by the node's worker, as on one machine
INSTANCE = str(uuid.uuid4())  # one per environment (pids repeat: each has its own namespace)
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("hello from", os.getpid())
    return {"env": INSTANCE, "echo": event, "key": os.environ.get("AWS_ACCESS_KEY_ID")}
"""


def start_worker(root: Path, node_id: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "LAMINA_CLUSTER_TOKEN": TOKEN, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina.cluster.worker", "--node-id", node_id,
         "--data-dir", str(root / node_id), "--capacity-mb", "1024", "--cpus", "2"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("LAMINA-WORKER "), line
    return proc, int(line.split()[1])


def stop_worker(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    proc, port = start_worker(tmp_path, "n1")
    try:
        yield proc, port
    finally:
        stop_worker(proc)


@pytest.fixture
def code(tmp_path: Path) -> tuple[CodeStore, FunctionConfig]:
    store = CodeStore(tmp_path / "control" / "code")
    pkg = store.put_zip(python_zip(SOURCE))
    cfg = FunctionConfig(
        "echo", "python3.12", "app.handler", pkg.sha256_hex, pkg.size, revision_id="r1"
    )
    return store, cfg


async def shipped(records: list[InvocationRecord], request_id: str) -> InvocationRecord:
    """The ledger record of ``request_id`` once the node's batched state frame brings it
    (answers carry no record: it is not on the invoke's round trip)."""
    for _ in range(50):
        for rec in records:
            if rec.request_id == request_id:
                return rec
        await asyncio.sleep(0.1)
    raise AssertionError(f"no record of {request_id} arrived")


@asynccontextmanager
async def router(
    tmp_path: Path, port: int, code: CodeStore
) -> AsyncIterator[tuple[ClusterRouter, list[InvocationRecord], LogStore]]:
    records: list[InvocationRecord] = []
    logs = LogStore(tmp_path / "control" / "logs")
    r = ClusterRouter(Placement(), TOKEN, records.append, logs, code.zip_path)
    r.credentials = lambda cfg: ("AKIDROLE" + cfg.name.upper(), "secret", "token")
    await r.attach("127.0.0.1", port)
    try:
        yield r, records, logs
    finally:
        await r.close()


def test_invokes_run_on_the_node_and_bill_and_log_on_the_control_plane(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, records, logs):
            cfg = code[1]
            first = await r.invoke(InvokeRequest(cfg, b'{"n":1}', "arn:test", tail=True))
            second = await r.invoke(InvokeRequest(cfg, b'{"n":2}', "arn:test"))
            a, b = json.loads(first.payload), json.loads(second.payload)
            assert a["echo"] == {"n": 1} and b["echo"] == {"n": 2}
            assert a["env"] == b["env"]  # the warm environment served the second
            assert a["key"] == "AKIDROLEECHO"  # the role's credentials came with the event
            assert first.node == second.node == "n1"
            assert b"REPORT RequestId: " + first.request_id.encode() in first.log_tail
            assert second.log_tail == b""  # not asked for: not sent
            assert (await shipped(records, first.request_id)).cold
            assert not (await shipped(records, second.request_id)).cold
            third = await r.invoke(InvokeRequest(cfg, b'{"n":3}', "arn:test"))
            await shipped(records, third.request_id)
            # Each record is written once (an answer's "load as before" repeats no records).
            assert [rec.request_id for rec in records] == [
                first.request_id,
                second.request_id,
                third.request_id,
            ]
            assert {rec.node for rec in records} == {"n1"}  # the bill names the node
            logs.flush()
            events = logs.read("echo")
            text = "\n".join(e.message for e in events)
            # The environment's log stream names the node: [$LATEST]<node>.<32 hex>.
            assert {e.stream.split("]")[1].split(".")[0] for e in events} == {"n1"}
            assert f"START RequestId: {first.request_id}" in text
            assert f"REPORT RequestId: {second.request_id}" in text
            assert "hello from" in text
            assert r.placement.active("echo") == 0

    asyncio.run(scenario())


def test_a_wrong_token_is_refused(worker: tuple[subprocess.Popen[str], int]) -> None:
    def ignore(node: str, state: NodeState) -> None:
        raise AssertionError("no state without the token")

    async def scenario() -> None:
        conn = NodeConnection("127.0.0.1", worker[1], "wrong", ignore, lambda c: None)
        with pytest.raises(ConnectionError):
            await conn.open()

    asyncio.run(scenario())


def test_a_dead_worker_fails_its_invokes_with_node_lost(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, _, _):
            slow = code[1].with_changes(timeout_s=30)
            pending = asyncio.ensure_future(
                r.invoke(InvokeRequest(slow, b'{"sleep":20}', "arn:test"))
            )
            await asyncio.sleep(1.0)
            assert not pending.done()
            worker[0].kill()
            with pytest.raises(NodeLost):
                await pending
            assert not r.attached("n1")
            assert r.placement.live() == []
            assert r.placement.active() == 0

    asyncio.run(scenario())


def test_a_changed_function_is_drained_on_the_nodes(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, records, _):
            cfg = code[1]
            first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:test"))
            node = r.placement.nodes["n1"]
            assert node.idle.get(cfg.cache_key) == 1 and node.used_mb == cfg.memory_mb
            r.drain("echo")
            for _ in range(50):
                if not node.idle.get(cfg.cache_key) and node.used_mb == 0:
                    break
                await asyncio.sleep(0.1)
            assert node.idle.get(cfg.cache_key, 0) == 0 and node.used_mb == 0
            again = await r.invoke(InvokeRequest(cfg, b"{}", "arn:test"))
            assert (await shipped(records, again.request_id)).cold
            assert json.loads(again.payload)["env"] != json.loads(first.payload)["env"]

    asyncio.run(scenario())


def test_a_leaving_node_finishes_its_invokes_and_takes_no_new_ones(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, records, _):
            cfg = code[1].with_changes(timeout_s=30)
            running = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b'{"sleep":2}', "arn:t")))
            await asyncio.sleep(1.0)
            worker[0].send_signal(signal.SIGTERM)  # scale-down: the node is told to go
            for _ in range(50):
                if not r.placement.nodes["n1"].alive:
                    break
                await asyncio.sleep(0.05)
            assert not r.placement.nodes["n1"].alive
            with pytest.raises(TooManyRequests):  # no other node has room for it
                await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            # One that raced the notice in is refused unrun (the router places it again).
            with pytest.raises(NodeLeaving):
                await r.connections["n1"].invoke(InvokeRequest(cfg, b"{}", "arn:t", "rid-1"))
            done = await running
            assert json.loads(done.payload)["echo"] == {"sleep": 2}
            assert await asyncio.to_thread(worker[0].wait, 30) == 0
            assert done.request_id in [rec.request_id for rec in records]

    asyncio.run(scenario())


def test_new_invokes_go_to_another_node_while_one_leaves(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    second, port = start_worker(tmp_path, "n2")

    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, _, _):
            await r.attach("127.0.0.1", port)
            cfg = code[1].with_changes(timeout_s=30)
            first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            leaving = worker[0] if first.node == "n1" else second
            running = asyncio.ensure_future(r.invoke(InvokeRequest(cfg, b'{"sleep":2}', "arn:t")))
            await asyncio.sleep(1.0)
            leaving.send_signal(signal.SIGTERM)
            for _ in range(50):
                if not r.placement.nodes[first.node].alive:
                    break
                await asyncio.sleep(0.05)
            elsewhere = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            assert elsewhere.node != first.node
            assert (await running).node == first.node  # it finished where it ran

    try:
        asyncio.run(scenario())
    finally:
        stop_worker(second)


def test_a_node_full_of_idle_environments_stops_the_oldest_for_a_cold_start(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, records, _):
            node = r.placement.nodes["n1"]  # 1024 MB for environments
            fns = [code[1].with_changes(name=f"f{i}", memory_mb=512) for i in range(3)]
            for cfg in fns[:2]:
                await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            assert (node.used_mb, node.idle_mb) == (1024, 1024)
            third = await r.invoke(InvokeRequest(fns[2], b"{}", "arn:t"))
            assert third.function_error is None
            assert (await shipped(records, third.request_id)).cold
            assert node.used_mb <= node.capacity_mb
            assert fns[0].cache_key not in {k for k, v in node.idle.items() if v}  # the oldest
            assert node.idle.get(fns[1].cache_key) == 1

    asyncio.run(scenario())


def test_concurrent_cold_starts_ship_the_package_once(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, _, _):
            conn = r.connections["n1"]
            sent: list[str] = []
            real = conn.send_code

            def counting(sha: str, package: bytes) -> None:
                sent.append(sha)
                real(sha, package)

            conn.send_code = counting  # type: ignore[method-assign]
            cfg = code[1]
            results = await asyncio.gather(
                *(r.invoke(InvokeRequest(cfg, b"{}", "arn:t")) for _ in range(4))
            )
            assert all(res.function_error is None for res in results)
            assert sent == [cfg.code_sha256]

    asyncio.run(scenario())


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


def test_a_stream_crosses_the_connection_held_back_by_a_slow_reader(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    store = code[0]
    pkg = store.put_zip(
        zip_files({"bootstrap": BIG_STREAM, "blob": "a" * 65536}, executable=("bootstrap",))
    )
    cfg = FunctionConfig(
        "big", "provided.al2023", "bootstrap", pkg.sha256_hex, pkg.size, timeout_s=60
    )

    async def scenario() -> None:
        async with router(tmp_path, worker[1], store) as (r, records, _):
            conn = r.connections["n1"]
            flow: list[str] = []
            real = conn._send_flow

            def counting(op: str, ident: int) -> None:
                flow.append(op)
                real(op, ident)

            conn._send_flow = counting  # type: ignore[method-assign]
            # A reader far slower than the function, with a small buffer on this side.
            stream = ResponseStream(20 * 1024 * 1024, high_water=64 * 1024)
            task = asyncio.ensure_future(
                r.invoke(InvokeRequest(cfg, b"{}", "arn:big", stream=stream))
            )
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
            assert "pause" in flow and flow.count("pause") == flow.count("resume"), flow
            rec = await shipped(records, result.request_id)
            assert rec.function_name == "big"

    asyncio.run(scenario())


def test_a_stream_refused_by_a_leaving_node_streams_from_another(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    store = code[0]
    pkg = store.put_zip(
        zip_files({"bootstrap": BIG_STREAM, "blob": "a" * 65536}, executable=("bootstrap",))
    )
    cfg = FunctionConfig("big", "provided.al2023", "bootstrap", pkg.sha256_hex, pkg.size)
    second, port = start_worker(tmp_path, "n2")

    async def scenario() -> None:
        async with router(tmp_path, worker[1], store) as (r, _, _):
            await r.attach("127.0.0.1", port)
            r.placement.lose("n2")  # so that this one runs on n1 and keeps it up a while
            slow = code[1].with_changes(timeout_s=30)
            running = asyncio.ensure_future(r.invoke(InvokeRequest(slow, b'{"sleep":3}', "a")))
            await asyncio.sleep(1.0)
            worker[0].send_signal(signal.SIGTERM)  # n1 leaves
            for _ in range(50):
                if not r.placement.nodes["n1"].alive:
                    break
                await asyncio.sleep(0.05)
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
            task = asyncio.ensure_future(
                r.invoke(InvokeRequest(cfg, b"{}", "arn:big", stream=stream))
            )
            got = 0
            while (data := await stream.read()) is not None:
                got += len(data)
            result = await task
            assert result.node == "n2" and result.function_error is None
            assert got == 32 * 65536  # the first attempt's end did not end the stream
            assert refused == [result.request_id]
            assert (await running).node == "n1"

    try:
        asyncio.run(scenario())
    finally:
        stop_worker(second)


def test_a_leaving_nodes_warm_environment_is_started_again_on_another(
    tmp_path: Path,
    worker: tuple[subprocess.Popen[str], int],
    code: tuple[CodeStore, FunctionConfig],
) -> None:
    second, port = start_worker(tmp_path, "n2")

    async def scenario() -> None:
        async with router(tmp_path, worker[1], code[0]) as (r, records, _):
            await r.attach("127.0.0.1", port)
            cfg = code[1]
            r.placement.lose("n2")  # the first runs on n1 and stays warm there
            first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            r.placement.join("n2", 1024, 2)
            assert first.node == "n1" and r.placement.nodes["n2"].idle.get(cfg.cache_key, 0) == 0
            worker[0].send_signal(signal.SIGTERM)  # n1 leaves: its warm one moves to n2
            n2 = r.placement.nodes["n2"]
            for _ in range(100):
                if n2.idle.get(cfg.cache_key, 0) == 1:
                    break
                await asyncio.sleep(0.1)
            assert n2.idle.get(cfg.cache_key, 0) == 1
            again = await r.invoke(InvokeRequest(cfg, b"{}", "arn:t"))
            assert again.node == "n2"
            assert not (await shipped(records, again.request_id)).cold  # warm at once
            assert json.loads(again.payload)["key"] == "AKIDROLEECHO"  # its role's keys

    try:
        asyncio.run(scenario())
    finally:
        stop_worker(second)
