"""The durable async-invoke queue against a real SQLite file and a scripted function."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lamina.events.asyncinvoke.config import EventInvokeConfig
from lamina.events.asyncinvoke.policy import Condition, RetryTimings
from lamina.events.asyncinvoke.queue import AsyncInvokeQueue
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore
from lamina.models.invocation import InvokeResult
from lamina.triggers import DATASOURCE, PUBSUB, TIMER, triggered
from tests.events.helpers import Call, ScriptedFunction, wait_for

FAST = RetryTimings(function_error_delays_s=(0.05, 0.1), throttle_base_s=0.02, throttle_max_s=0.1)
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:failures"


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Any, dict[str, tuple[str, str]]]] = []

    async def __call__(self, arn: str, body: str, attrs: dict[str, tuple[str, str]]) -> None:
        self.messages.append((arn, json.loads(body), attrs))


@asynccontextmanager
async def running(
    path: Path,
    fn: ScriptedFunction,
    sent: Sent | None = None,
    dlq: str | None = None,
    configs: list[EventInvokeConfig] = (),  # type: ignore[assignment]
) -> AsyncIterator[AsyncInvokeQueue]:
    store = AsyncInvokeStore(path, fsync=False)
    registry = EventInvokeConfigs(store)
    for c in configs:
        registry.put(c)
    queue = AsyncInvokeQueue(
        store,
        fn,
        registry,
        region="us-east-1",
        account="000000000000",
        send_to_queue=sent,
        dead_letter_target=(lambda f, q: dlq) if dlq else None,
        timings=FAST,
    )
    queue.start()
    try:
        yield queue
    finally:
        await queue.close()
        store.close()


def test_an_accepted_event_is_committed_before_enqueue_returns(tmp_path: Path) -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def blocked(*args: object) -> InvokeResult:
            await gate.wait()
            raise AssertionError("unreachable")

        store = AsyncInvokeStore(tmp_path / "q.db")
        queue = AsyncInvokeQueue(store, blocked, EventInvokeConfigs(store), region="r", account="a")
        rid = await queue.enqueue("fn", None, b'{"n":1}')
        # A second connection (another process could do the same) sees the committed row.
        with sqlite3.connect(tmp_path / "q.db") as other:
            rows = other.execute("SELECT request_id, payload FROM events").fetchall()
        assert rows == [(rid, b'{"n":1}')]
        await queue.close()
        store.close()

    asyncio.run(main())


def test_success_delivers_once_and_sends_the_success_record_to_a_function(
    tmp_path: Path,
) -> None:
    fn = ScriptedFunction()
    cfg = EventInvokeConfig(
        "fn", "$LATEST", on_success="arn:aws:lambda:us-east-1:000000000000:function:audit"
    )

    async def main() -> None:
        async with running(tmp_path / "q.db", fn, configs=[cfg]) as q:
            rid = await q.enqueue("fn", None, b'{"order":7}')
            await wait_for(lambda: len(fn.for_function("audit")) == 1)
            assert [c.request_id for c in fn.for_function("fn")] == [rid]
            record = fn.for_function("audit")[0].json()
            assert isinstance(record, dict)
            assert record["version"] == "1.0"
            assert record["requestContext"] == {
                "requestId": rid,
                "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST",
                "condition": "Success",
                "approximateInvokeCount": 1,
            }
            assert record["requestPayload"] == {"order": 7}
            assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
            assert record["responsePayload"] == {"ok": True}
            assert record["timestamp"].endswith("Z")
            await wait_for(lambda: q.depth() == 0)

    asyncio.run(main())


def test_function_errors_are_retried_then_reported_to_the_failure_queue(tmp_path: Path) -> None:
    fn = ScriptedFunction(lambda call: "error")
    sent = Sent()
    cfg = EventInvokeConfig("fn", "$LATEST", on_failure=QUEUE_ARN)

    async def main() -> None:
        async with running(tmp_path / "q.db", fn, sent, configs=[cfg]) as q:
            rid = await q.enqueue("fn", None, b'{"x":1}')
            await wait_for(lambda: len(sent.messages) == 1)
            calls = fn.for_function("fn")
            assert len(calls) == 3  # the first attempt and two retries
            assert {c.request_id for c in calls} == {rid}
            assert calls[1].at - calls[0].at >= 0.05 and calls[2].at - calls[1].at >= 0.1
            arn, record, _ = sent.messages[0]
            assert arn == QUEUE_ARN
            ctx = record["requestContext"]
            assert isinstance(ctx, dict)
            assert ctx["condition"] == "RetriesExhausted"
            assert ctx["approximateInvokeCount"] == 3
            assert record["responseContext"] == {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            }
            assert record["responsePayload"] == {"errorMessage": "boom", "errorType": "Boom"}

    asyncio.run(main())


def test_zero_retries_means_one_attempt_and_the_dlq_gets_the_payload(tmp_path: Path) -> None:
    fn = ScriptedFunction(lambda call: "error")
    sent = Sent()
    cfg = EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0)

    async def main() -> None:
        dlq = "arn:aws:sqs:us-east-1:000000000000:dlq"
        async with running(tmp_path / "q.db", fn, sent, dlq=dlq, configs=[cfg]) as q:
            rid = await q.enqueue("fn", None, b'{"keep":"me"}')
            await wait_for(lambda: len(sent.messages) == 1)
            assert len(fn.calls) == 1
            arn, body, attrs = sent.messages[0]
            assert arn == dlq
            assert body == {"keep": "me"}
            assert attrs == {
                "RequestID": ("String", rid),
                "ErrorCode": ("Number", "200"),
                "ErrorMessage": ("String", "boom"),
            }

    asyncio.run(main())


def test_throttles_are_retried_without_using_up_retry_attempts(tmp_path: Path) -> None:
    def behaviour(call: Call) -> str:
        return "throttle" if len(fn.calls) <= 4 else "ok"

    fn = ScriptedFunction(behaviour)
    cfg = EventInvokeConfig("fn", "$LATEST", maximum_retry_attempts=0)

    async def main() -> None:
        async with running(tmp_path / "q.db", fn, configs=[cfg]) as q:
            await q.enqueue("fn", None, b"{}")
            await wait_for(lambda: q.finished[Condition.SUCCESS] == 1)
            assert len(fn.calls) == 5

    asyncio.run(main())


def test_an_event_throttled_past_its_maximum_age_goes_to_the_failure_destination(
    tmp_path: Path,
) -> None:
    fn = ScriptedFunction(lambda call: "throttle")
    sent = Sent()
    cfg = EventInvokeConfig("fn", "$LATEST", maximum_event_age_s=1, on_failure=QUEUE_ARN)

    async def main() -> None:
        async with running(tmp_path / "q.db", fn, sent, configs=[cfg]) as q:
            await q.enqueue("fn", None, b'"just a string"')
            await wait_for(lambda: len(sent.messages) == 1)
            _, record, _ = sent.messages[0]
            assert record["requestContext"]["condition"] == "EventAgeExceeded"
            assert record["requestContext"]["approximateInvokeCount"] == 0
            assert record["requestPayload"] == "just a string"
            assert "responseContext" not in record
            assert len(fn.calls) >= 2

    asyncio.run(main())


def test_events_in_flight_at_a_stop_are_delivered_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.db"

    async def first_life() -> list[str]:
        started = asyncio.Event()

        async def hangs(*args: object) -> InvokeResult:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        store = AsyncInvokeStore(path)
        queue = AsyncInvokeQueue(store, hangs, EventInvokeConfigs(store), region="r", account="a")
        queue.start()
        ids = [await queue.enqueue("fn", None, f'{{"i":{i}}}'.encode()) for i in range(5)]
        await started.wait()
        await queue.close()  # leases stay in the database, as after a crash
        store.close()
        return ids

    async def second_life(ids: list[str]) -> None:
        fn = ScriptedFunction()
        async with running(path, fn) as q:
            await wait_for(lambda: len(fn.calls) == 5)
            assert sorted(c.request_id for c in fn.calls) == sorted(ids)
            await wait_for(lambda: q.depth() == 0)

    ids = asyncio.run(first_life())
    asyncio.run(second_life(ids))


def test_a_lease_that_runs_out_makes_the_event_due_again(tmp_path: Path) -> None:
    async def main() -> None:
        store = AsyncInvokeStore(tmp_path / "q.db", fsync=False)
        await store.insert("r1", "fn", None, b"{}", now=100.0)
        got, _ = await store.claim("a", now=100.0, lease_s=30.0, limit=10)
        assert [e.request_id for e in got] == ["r1"]
        again, nxt = await store.claim("b", now=120.0, lease_s=30.0, limit=10)
        assert again == [] and nxt == 130.0
        late, _ = await store.claim("b", now=131.0, lease_s=30.0, limit=10)
        assert [e.request_id for e in late] == ["r1"]
        store.close()

    asyncio.run(main())


def test_an_events_trigger_is_kept_across_a_restart_and_not_passed_to_destinations(
    tmp_path: Path,
) -> None:
    """An S3 notification (datasource) or a schedule (timer) is queued: its invocation,
    after a restart too, runs with that trigger; the destination's record is "other"."""
    path = tmp_path / "q.db"

    async def first_life() -> dict[str, str]:
        store = AsyncInvokeStore(path, fsync=False)
        queue = AsyncInvokeQueue(store, ScriptedFunction(), EventInvokeConfigs(store), region="r", account="a")  # fmt: skip
        with triggered(DATASOURCE):
            s3 = await queue.enqueue("fn", None, b'{"from":"s3"}')
        with triggered(TIMER):
            tick = await queue.enqueue("fn", None, b'{"from":"schedule"}')
        direct = await queue.enqueue("fn", None, b'{"from":"InvokeAsync"}')
        store.close()  # never started: the events wait in the database
        return {s3: "datasource", tick: "timer", direct: "other"}

    async def second_life(expected: dict[str, str]) -> None:
        fn = ScriptedFunction()
        cfg = EventInvokeConfig(
            "fn", "$LATEST", on_success="arn:aws:lambda:us-east-1:000000000000:function:audit"
        )
        async with running(path, fn, configs=[cfg]) as q:
            await wait_for(lambda: len(fn.for_function("audit")) == 3)
            await wait_for(lambda: q.depth() == 0)
        assert {c.request_id: c.trigger for c in fn.for_function("fn")} == expected
        assert {c.trigger for c in fn.for_function("audit")} == {"other"}

    asyncio.run(second_life(asyncio.run(first_life())))


def test_a_queue_written_before_triggers_is_migrated_in_place(tmp_path: Path) -> None:
    """A database without the trigger column gets it; its stored events are delivered
    (as "other", what they were) and new ones keep theirs."""
    path = tmp_path / "q.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL"
            " UNIQUE, function TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL, accepted_at"
            " REAL NOT NULL, due_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, throttles"
            " INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, last_response TEXT, trace TEXT)"
        )
        now = time.time()
        old.execute(
            "INSERT INTO events (request_id, function, payload, accepted_at, due_at)"
            " VALUES ('old-1', 'fn', x'7b7d', ?, ?)",
            (now, now),
        )
    fn = ScriptedFunction()

    async def main() -> None:
        async with running(path, fn) as q:
            with triggered(PUBSUB):
                new = await q.enqueue("fn", None, b"{}")
            await wait_for(lambda: len(fn.calls) == 2)
            assert {c.request_id: c.trigger for c in fn.calls} == {"old-1": "other", new: "pubsub"}

    asyncio.run(main())
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    assert "faas_trigger" in columns
