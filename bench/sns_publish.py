"""Measure Publish's latency and throughput in process (not a test; run by hand).

    .venv/bin/python -m bench.sns_publish [DIR]

A topic with 1, 10 and 100 subscriptions (half functions, half queues) is published to by
one caller at a time and by 16 at once, with fsync on. Each publish returns once every
delivery is durable: the functions' events committed to the async-invoke store (no
dispatcher runs: nothing is invoked), the queues' messages to the SQS store. Prints p50 and
p99 of the publish and the publishes per second.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lamina.events.asyncinvoke.queue import AsyncInvokeQueue
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore
from lamina.models.invocation import InvokeResult
from lamina.services.sns.fanout import Fanout
from lamina.services.sns.service import SnsService
from lamina.services.sns.store import SnsStore
from lamina.services.sqs.service import SqsService
from lamina.services.sqs.store import SqsStore

REGION, ACCOUNT = "us-east-1", "000000000000"


async def never(name: str, qualifier: str | None, payload: bytes, rid: str) -> InvokeResult:
    raise AssertionError("the bench starts no dispatcher")


async def measure(root: Path, subscribers: int, concurrency: int, n: int) -> tuple[float, ...]:
    await asyncio.to_thread(root.mkdir, parents=True)
    events = AsyncInvokeStore(root / "async.db")
    queue = AsyncInvokeQueue(
        events, never, EventInvokeConfigs(events), region=REGION, account=ACCOUNT
    )
    sqs_store = SqsStore(root / "sqs.db")
    sqs = SqsService(sqs_store, REGION, ACCOUNT)
    store = SnsStore(root / "sns.db")
    sns = SnsService(store, Fanout(queue.enqueue, sqs.send_to_arn), REGION, ACCOUNT)
    topic = (await sns.create_topic({"Name": "bench"}))["TopicArn"]
    for i in range(subscribers):
        if i % 2:
            await sqs_store.create_queue(f"q{i}", {}, {}, time.time())
            endpoint = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q{i}"
            await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": endpoint})
        else:
            endpoint = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f{i}"
            await sns.subscribe({"TopicArn": topic, "Protocol": "lambda", "Endpoint": endpoint})
    latencies: list[float] = []
    message = {"TopicArn": topic, "Message": '{"order": 42, "status": "placed"}' * 4}

    async def one() -> None:
        t0 = time.perf_counter()
        await sns.publish(message)
        latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    for start in range(0, n, concurrency):
        await asyncio.gather(*(one() for _ in range(start, min(n, start + concurrency))))
    elapsed = time.perf_counter() - started
    for closing in (store, sqs_store, events):
        closing.close()
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000, n / elapsed


async def main(root: Path) -> None:
    print("| subscriptions | publishers | p50 | p99 | publishes/s |")
    print("|---|---|---|---|---|")
    for subscribers in (1, 10, 100):
        for concurrency in (1, 16):
            n = 400 if subscribers < 100 else 160
            p50, p99, rate = await measure(
                root / f"s{subscribers}-c{concurrency}", subscribers, concurrency, n
            )
            print(f"| {subscribers} | {concurrency} | {p50:.2f} ms | {p99:.2f} ms | {rate:,.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(Path(sys.argv[1])))
    else:
        with tempfile.TemporaryDirectory() as d:
            asyncio.run(main(Path(d)))
