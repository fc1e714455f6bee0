"""What started an invocation (lamina.triggers) and how each source says it: the value
the OTLP span's ``faas.trigger`` carries. The async queue's keeping of it is in
tests/events/test_async_queue.py, function URLs' and API routes' in tests/events/test_http.py,
SQS mappings' in tests/events/test_esm.py, a real server's spans in
tests/integration/test_otlp.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lamina.events.s3.dispatch import Notifier
from lamina.events.schedule.runner import ScheduleRunner
from lamina.metrics.otlp import span
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.scheduler.driver import InvokeRequest
from lamina.scheduler.report import invocation_record
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import RuleStore
from lamina.services.s3.notifications import NotificationRoute
from lamina.triggers import TRIGGER, TRIGGERS, known, triggered
from tests.events.helpers import wait_for

ACCOUNT = "000000000000"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:job"
SFN_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:flow"


def test_the_values_are_the_semantic_conventions_and_anything_else_is_other() -> None:
    assert {"http", "pubsub", "datasource", "timer", "other"} == TRIGGERS
    assert [known(v) for v in ("timer", "Timer", "cron", None, 3)] == ["timer"] + ["other"] * 4


def test_triggered_sets_the_trigger_inside_only_and_nests() -> None:
    assert TRIGGER.get() == "other"
    with triggered("timer"):
        assert TRIGGER.get() == "timer"
        with triggered("other"):
            assert TRIGGER.get() == "other"
        assert TRIGGER.get() == "timer"
        with triggered("bogus"):
            assert TRIGGER.get() == "other"
    assert TRIGGER.get() == "other"


def test_a_direct_invoke_and_its_record_default_to_other() -> None:
    cfg = FunctionConfig("f", "python3.12", "app.handler", "a" * 64, 10)
    assert InvokeRequest(cfg, b"{}", "arn:f").trigger == "other"

    plain = invocation_record(
        cfg, "r", duration_ms=1.0, init_ms=None, outcome=Outcome.SUCCESS, started_at=1.0,
        max_memory_mb=1,
    )  # fmt: skip
    assert plain.trigger == "other"
    rec = invocation_record(
        cfg, "r", duration_ms=1.0, init_ms=None, outcome=Outcome.SUCCESS, started_at=1.0,
        max_memory_mb=1, trigger="pubsub",
    )  # fmt: skip
    assert rec.trigger == "pubsub" and rec.node is None


def _attrs(rec: InvocationRecord) -> dict[str, object]:
    return {
        a["key"]: next(iter(a["value"].values())) for a in span(rec, "r", ACCOUNT)["attributes"]
    }


def test_the_span_carries_the_records_trigger() -> None:
    rec = InvocationRecord(
        "r1", "f", "$LATEST", 1.5, 2.0, 2, 128, 40, None, "x86_64", Outcome.SUCCESS
    )
    assert _attrs(rec)["faas.trigger"] == "other"
    for kind in ("http", "pubsub", "datasource", "timer"):
        assert _attrs(rec._replace(trigger=kind))["faas.trigger"] == kind


def test_an_s3_notification_is_queued_as_a_datasource() -> None:
    seen: list[tuple[str, str]] = []

    async def enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
        seen.append((name, TRIGGER.get()))
        return "rid"

    route = NotificationRoute("n", "lambda", FN_ARN, ("s3:ObjectCreated:*",))
    asyncio.run(Notifier(enqueue, None).deliver(route, {"eventName": "ObjectCreated:Put"}))
    assert seen == [("job", "datasource")]
    assert TRIGGER.get() == "other"  # set around the enqueue only


def test_schedules_are_timers_event_rules_pubsub_and_workflows_they_start_other(
    tmp_path: Path,
) -> None:
    store = RuleStore(tmp_path / "schedules.db")
    ops = RuleOperations(store, "us-east-1", ACCOUNT, clock=lambda: 0.0)
    ops.put_rule({"Name": "tick", "ScheduleExpression": "rate(1 minute)"})
    ops.put_rule({"Name": "orders", "EventPattern": json.dumps({"source": ["shop"]})})
    for rule in ("tick", "orders"):
        ops.put_targets(
            {"Rule": rule, "Targets": [{"Id": "f", "Arn": FN_ARN}, {"Id": "s", "Arn": SFN_ARN}]}
        )
    enqueued: list[str] = []
    started: list[str] = []

    async def enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
        enqueued.append(TRIGGER.get())
        return "rid"

    async def start_execution(arn: str, payload: str) -> dict[str, object]:
        started.append(TRIGGER.get())
        return {}

    async def main() -> None:
        runner = ScheduleRunner(store, enqueue, region="us-east-1", account=ACCOUNT)
        runner.start_execution = start_execution
        await runner.run_once(61.0)  # the rate rule's first tick
        assert (enqueued, started) == (["timer"], ["other"])
        runner.publish(store.rules["orders"], {"source": "shop", "detail": {}})
        await wait_for(lambda: len(enqueued) == 2 and len(started) == 2)

    asyncio.run(main())
    assert (enqueued, started) == (["timer", "pubsub"], ["other", "other"])
    store.close()
