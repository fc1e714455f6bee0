"""The after-invoke step after the answer: meter and lines follow it, nothing is lost or
reordered (a real scheduler, process sandbox and Python runtime; the queue itself needs
neither root nor processes)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.runtimes.registry import RuntimeRegistry
from lamina.sandbox import create_sandbox
from lamina.sandbox.process_tier import ProcessSandbox
from lamina.scheduler.after_answer import AfterAnswers
from lamina.scheduler.driver import InvokeRequest, Scheduler

APP = """
import os

KEPT = []


def handler(event, context):
    print("in", context.aws_request_id)
    if event.get("alloc_mb"):
        KEPT.append(b"x" * (event["alloc_mb"] * 1024 * 1024))
    if event.get("exit"):
        os._exit(3)
    return {"ok": True}
"""

MB = 1024 * 1024


# -- the queue ------------------------------------------------------------------------------


def test_queued_work_runs_at_the_next_loop_iteration_in_order() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        after = AfterAnswers()
        ran: list[str] = []
        after.add(ran.append, "a")
        after.add(ran.append, "b")
        before = list(ran)  # nothing yet: the caller's step goes on first
        await asyncio.sleep(0)
        after.add(ran.append, "c")
        await asyncio.sleep(0)
        return before, ran

    before, ran = asyncio.run(scenario())
    assert before == []
    assert ran == ["a", "b", "c"]


def test_a_failing_call_is_logged_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail() -> None:
        raise ValueError("broken sink")

    async def scenario() -> list[int]:
        after = AfterAnswers()
        ran: list[int] = []
        after.add(fail)
        after.add(ran.append, 1)
        await asyncio.sleep(0)
        return ran

    with caplog.at_level(logging.ERROR, logger="lamina.scheduler"):
        assert asyncio.run(scenario()) == [1]
    assert "broken sink" in caplog.text


def test_run_empties_the_queue_at_once_for_shutdown() -> None:
    async def scenario() -> tuple[list[int], int]:
        after = AfterAnswers()
        ran: list[int] = []
        after.add(ran.append, 1)
        after.run()
        return ran, len(after)

    assert asyncio.run(scenario()) == ([1], 0)


# -- through the scheduler, with real environments -------------------------------------------


@asynccontextmanager
async def scheduler(
    tmp: Path, app: str = APP
) -> AsyncIterator[tuple[Scheduler, list[InvocationRecord]]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # A long freeze grace: a freeze timer set on a busy environment stays to be seen.
    settings = Settings(
        data_dir=tmp / "data", isolation="process", zygotes="off", freeze_grace_s=30.0
    )
    sandbox = create_sandbox(settings, cgroup_group=f"lamina-test-aa{os.getpid()}")
    if not isinstance(sandbox, ProcessSandbox):
        pytest.skip("no process tier here")
    code = tmp / "code"
    code.mkdir(mode=0o755)
    (code / "app.py").write_text(textwrap.dedent(app))
    (code / "app.py").chmod(0o644)
    records: list[InvocationRecord] = []
    sch = Scheduler(
        settings, sandbox, RuntimeRegistry({}), lambda _sha: code, LogStore(tmp / "logs"),
        records.append,
    )  # fmt: skip
    sch.start()
    try:
        yield sch, records
    finally:
        await sch.close()
        sandbox.close()


CFG = FunctionConfig(
    "after_answer", "python3.11", "app.handler", "sha", 1, memory_mb=256, timeout_s=30,
    revision_id="r1",
)  # fmt: skip


def request(event: dict[str, object], *, tail: bool = False) -> InvokeRequest:
    payload = json.dumps(event).encode()
    return InvokeRequest(CFG, payload, "arn:test", tail=tail)


async def steps_done() -> None:
    """Two turns of the loop: an answered invoke's reading runs in the first, the rest of
    its step in the second (Scheduler._read_now)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def platform_lines(sch: Scheduler) -> list[str]:
    """The stream's START/END/REPORT lines and the function's own, in stream order."""
    return [e.message for e in sch.logs.read(CFG.name) if not e.message.startswith("INIT")]


def max_memory_mb(report: str) -> int:
    return int(report.split("Max Memory Used: ")[1].split(" MB")[0])


@pytest.mark.privileged
@pytest.mark.slow
def test_the_next_event_on_an_environment_follows_the_last_ones_report(tmp_path: Path) -> None:
    """Two back-to-back invokes on one environment, the second started before the loop
    ran the first's queued step: the first's record and END/REPORT still come first, its
    Max Memory Used is its own (the second allocates 120 MB), and the freeze's grace
    counts from the second's end."""

    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, records):
            await sch.invoke(request({}))  # the cold start, then both warm
            await steps_done()
            records.clear()
            first = await sch.invoke(request({}))
            # Answered: the step waits for the loop (no record, nothing after START yet).
            assert first.record is None and records == []
            second = await sch.invoke(request({"alloc_mb": 120}))
            assert [r.request_id for r in records] == [first.request_id]
            # Idle since the second's end: frozen a grace after that, not after the first's.
            (env,) = sch.envs.values()
            idle_since = env.slot.last_used
            assert sch.pool.freeze_due(idle_since + 29.0) == []
            await steps_done()
            assert [r.request_id for r in records] == [first.request_id, second.request_id]
            assert sch.pool.freeze_due(idle_since + 30.0) == [env.slot]
            a, b = records
            assert a.max_memory_used_mb < 120 <= b.max_memory_used_mb
            for rec, result in ((a, first), (b, second)):
                assert rec.function_name == CFG.name and rec.version == CFG.version
                assert rec.memory_mb == 256 and rec.outcome is Outcome.SUCCESS
                assert not rec.cold and rec.billed_ms >= 1 and rec.duration_ms > 0
                assert rec.trace_header is not None and result.record is None
            lines = platform_lines(sch)
            rid1, rid2 = first.request_id, second.request_id
            tail = lines[-8:]
            assert [line.split(" ")[0] for line in tail] == [
                "START", "in", "END", "REPORT", "START", "in", "END", "REPORT",
            ]  # fmt: skip
            assert all(rid1 in line for line in tail[:4])
            assert all(rid2 in line for line in tail[4:])
            assert max_memory_mb(tail[3]) == a.max_memory_used_mb
            assert max_memory_mb(tail[7]) == b.max_memory_used_mb

    asyncio.run(scenario())


@pytest.mark.privileged
@pytest.mark.slow
def test_a_next_event_waits_for_the_last_ones_reading_only(tmp_path: Path) -> None:
    """The next event, arriving before the loop ran the last invoke's step, waits only for
    its memory reading: the record, END and REPORT are written once that event is on its
    way to the runtime (in flight), still before its START."""

    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, records):
            await sch.invoke(request({}))
            await steps_done()
            (env,) = sch.envs.values()
            in_flight: list[tuple[str, bool]] = []
            sink = sch._reporter._record

            def record(rec: InvocationRecord) -> None:
                in_flight.append((rec.request_id, env.inflight is not None))
                sink(rec)

            sch._reporter._record = record
            first = await sch.invoke(request({}))
            assert in_flight == []  # answered: its step waits for the loop
            second = await sch.invoke(request({"alloc_mb": 120}))
            # The first's record while the second was in flight; the second's, from the
            # loop, after it.
            assert in_flight == [(first.request_id, True)]
            await steps_done()
            assert in_flight == [(first.request_id, True), (second.request_id, False)]
            a, b = records[-2:]
            assert a.max_memory_used_mb < 120 <= b.max_memory_used_mb
            tail = platform_lines(sch)[-8:]
            assert [line.split(" ")[0] for line in tail] == [
                "START", "in", "END", "REPORT", "START", "in", "END", "REPORT",
            ]  # fmt: skip
            # The loop's first turn after an answer reads; the next event, arriving then,
            # still goes before the rest.
            await steps_done()
            in_flight.clear()
            third = await sch.invoke(request({}))
            await asyncio.sleep(0)
            assert in_flight == []  # read, not yet reported
            fourth = await sch.invoke(request({}))
            assert in_flight == [(third.request_id, True)]
            await steps_done()
            assert in_flight[-1] == (fourth.request_id, False)

    asyncio.run(scenario())


@pytest.mark.privileged
@pytest.mark.slow
def test_tail_callers_get_the_step_before_the_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, records):
            await sch.invoke(request({}))
            await steps_done()
            tailed = await sch.invoke(request({}, tail=True))
            text = tailed.log_tail.decode()
            rid = tailed.request_id
            assert f"END RequestId: {rid}" in text and f"REPORT RequestId: {rid}" in text
            assert text.index(f"START RequestId: {rid}") < text.index(f"END RequestId: {rid}")
            assert tailed.record is not None and tailed.record.request_id == rid
            assert records[-1] == tailed.record
            untailed = await sch.invoke(request({}))
            assert untailed.record is None and untailed.log_tail == b""  # its step follows

    asyncio.run(scenario())


@pytest.mark.privileged
@pytest.mark.slow
def test_an_invoke_that_ends_its_environment_is_reported_before_the_answer(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, records):
            await sch.invoke(request({}))
            await steps_done()
            crashed = await sch.invoke(request({"exit": True}))
            assert crashed.function_error == "Unhandled"
            assert crashed.record is not None and crashed.record.outcome is Outcome.ERROR
            assert records[-1] == crashed.record
            report = [line for line in platform_lines(sch) if line.startswith("REPORT")][-1]
            assert crashed.request_id in report

    asyncio.run(scenario())


@pytest.mark.privileged
@pytest.mark.slow
def test_each_record_carries_its_requests_trigger(tmp_path: Path) -> None:
    """What started an invoke (the OTLP span's ``faas.trigger``) is in its record: a cold
    start's, warm ones' whose step follows the answer, a failed INIT's."""
    ok, bad = tmp_path / "ok", tmp_path / "bad"
    ok.mkdir()
    bad.mkdir()

    async def scenario() -> None:
        async with scheduler(ok) as (sch, records):
            for trigger in ("http", "timer", "other"):
                await sch.invoke(replace(request({}), trigger=trigger))
            await steps_done()
            assert [r.trigger for r in records] == ["http", "timer", "other"]
        async with scheduler(bad, "raise ImportError('no')\n") as (sch, records):
            failed = await sch.invoke(replace(request({}), trigger="pubsub"))
            assert failed.function_error == "Unhandled"
            assert [r.trigger for r in records] == ["pubsub"]

    asyncio.run(scenario())
