"""Schedule rules: missed-tick policy, the runner, and the EventBridge API via boto3."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from botocore.exceptions import ClientError

from lamina.events.schedule.plan import plan_rule
from lamina.events.schedule.runner import ScheduleRunner
from lamina.services.eventbridge.expression import parse_schedule
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import RuleStore
from lamina.services.eventbridge.service import EventsService
from tests.events.servers import LoopThread


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> float:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC).timestamp()


HOURLY = parse_schedule("cron(0 * * * ? *)")


def test_a_due_tick_fires_once_and_then_the_next_is_planned() -> None:
    plan = plan_rule(HOURLY, ts(2024, 1, 1), None, ts(2024, 1, 1, 1, 0, 2), 300)
    assert plan.fire == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert plan.next_at == datetime(2024, 1, 1, 2, tzinfo=UTC)
    again = plan_rule(HOURLY, ts(2024, 1, 1), ts(2024, 1, 1, 1), ts(2024, 1, 1, 1, 0, 3), 300)
    assert again.fire is None and again.skipped_to is None


def test_only_the_latest_missed_tick_within_the_window_fires() -> None:
    # down from 00:30 to 03:02: ticks 01:00, 02:00, 03:00 were missed; 03:00 is in the window
    plan = plan_rule(HOURLY, ts(2024, 1, 1), ts(2024, 1, 1), ts(2024, 1, 1, 3, 2), 300)
    assert plan.fire == datetime(2024, 1, 1, 3, tzinfo=UTC)


def test_missed_ticks_older_than_the_window_are_skipped_not_replayed() -> None:
    plan = plan_rule(HOURLY, ts(2024, 1, 1), ts(2024, 1, 1), ts(2024, 1, 1, 3, 30), 300)
    assert plan.fire is None
    assert plan.skipped_to == datetime(2024, 1, 1, 3, 30, tzinfo=UTC)
    assert plan.next_at == datetime(2024, 1, 1, 4, tzinfo=UTC)


def test_rate_rules_fire_a_period_after_creation() -> None:
    rate = parse_schedule("rate(5 minutes)")
    created = ts(2024, 1, 1, 0, 0, 10)
    assert plan_rule(rate, created, None, created + 299, 300).fire is None
    assert plan_rule(rate, created, None, created + 301, 300).fire == datetime(
        2024, 1, 1, 0, 5, 10, tzinfo=UTC
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuleStore]:
    s = RuleStore(tmp_path / "schedules.db")
    yield s
    s.close()


def test_the_runner_fires_targets_with_the_scheduled_event(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "schedules.db")
    ops = RuleOperations(store, "us-east-1", "000000000000", clock=lambda: ts(2024, 1, 1))
    ops.put_rule({"Name": "nightly", "ScheduleExpression": "cron(0 3 * * ? *)"})
    ops.put_targets(
        {
            "Rule": "nightly",
            "Targets": [
                {"Id": "job", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:job"},
                {
                    "Id": "fixed",
                    "Arn": "arn:aws:lambda:us-east-1:000000000000:function:job:live",
                    "Input": '{"mode":"full"}',
                },
                {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:ticks"},
            ],
        }
    )
    enqueued: list[tuple[str, str | None, bytes]] = []
    sent: list[tuple[str, str, str | None, str | None]] = []

    async def enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
        enqueued.append((name, qualifier, payload))
        return "rid"

    async def send(
        arn: str,
        body: str,
        attrs: dict[str, tuple[str, str]],
        group: str | None,
        dedup: str | None,
    ) -> None:
        sent.append((arn, body, group, dedup))

    async def main() -> None:
        runner = ScheduleRunner(
            store, enqueue, region="us-east-1", account="000000000000", send_to_queue=send
        )
        nxt = await runner.run_once(ts(2024, 1, 1, 2, 59))
        assert enqueued == [] and nxt == ts(2024, 1, 1, 3)
        await runner.run_once(ts(2024, 1, 1, 3, 0, 1))
        await runner.run_once(ts(2024, 1, 1, 3, 0, 2))  # the same tick never fires twice

    asyncio.run(main())
    assert [(n, q) for n, q, _ in enqueued] == [("job", None), ("job", "live")]
    event = json.loads(enqueued[0][2])
    parsed = EventBridgeModel(**event)
    assert parsed.detail_type == "Scheduled Event" and parsed.source == "aws.events"
    assert event["time"] == "2024-01-01T03:00:00Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/nightly"]
    assert event["detail"] == {} and event["version"] == "0"
    assert json.loads(enqueued[1][2]) == {"mode": "full"}
    assert sent[0][0] == "arn:aws:sqs:us-east-1:000000000000:ticks"
    assert json.loads(sent[0][1])["id"] == event["id"]
    # No SqsParameters: no message group; the event's id to deduplicate on a FIFO queue.
    assert sent[0][2:] == (None, event["id"])
    store.close()
    # the fired tick is durable: a restarted runner does not fire it again
    reopened = RuleStore(tmp_path / "schedules.db")
    assert reopened.rules["nightly"].last_tick == ts(2024, 1, 1, 3)
    reopened.close()


@pytest.fixture
def events_client(store: RuleStore) -> Iterator[tuple[Any, RuleOperations]]:
    loop = LoopThread()
    ops = RuleOperations(store, "us-east-1", "000000000000")
    service = EventsService(ops)
    server, url = loop.serve(service.handle)
    client = boto3.client(
        "events",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="lamina",
        aws_secret_access_key="lamina",
    )
    yield client, ops
    loop.call(server.close)
    loop.stop()


def test_boto3_events_client_manages_schedule_rules(
    events_client: tuple[Any, RuleOperations],
) -> None:
    client, ops = events_client
    woken: list[bool] = []
    ops.changed = lambda: woken.append(True)
    arn = client.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)", Description="tick")[
        "RuleArn"
    ]
    assert arn == "arn:aws:events:us-east-1:000000000000:rule/every-5"
    client.put_targets(
        Rule="every-5",
        Targets=[{"Id": "t1", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"}],
    )
    described = client.describe_rule(Name="every-5")
    assert described["State"] == "ENABLED" and described["ScheduleExpression"] == "rate(5 minutes)"
    assert described["Description"] == "tick"
    client.disable_rule(Name="every-5")
    assert client.describe_rule(Name="every-5")["State"] == "DISABLED"
    client.enable_rule(Name="every-5")
    assert [r["Name"] for r in client.list_rules(NamePrefix="every")["Rules"]] == ["every-5"]
    assert client.list_targets_by_rule(Rule="every-5")["Targets"] == [
        {"Id": "t1", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"}
    ]
    with pytest.raises(ClientError) as err:
        client.delete_rule(Name="every-5")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    client.remove_targets(Rule="every-5", Ids=["t1"])
    client.delete_rule(Name="every-5")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_rule(Name="every-5")
    assert woken  # every change wakes the runner


def test_bad_schedules_and_targets_are_validation_errors(
    events_client: tuple[Any, RuleOperations],
) -> None:
    client, _ = events_client
    for expr in ("rate(1 minutes)", "cron(0 12 * * * *)", "at(2024-01-01T00:00:00)"):
        with pytest.raises(ClientError) as err:
            client.put_rule(Name="bad", ScheduleExpression=expr)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "ScheduleExpression is not valid" in err.value.response["Error"]["Message"]
    client.put_rule(Name="ok", ScheduleExpression="cron(0 12 * * ? *)")
    with pytest.raises(ClientError, match="not valid JSON"):
        client.put_targets(
            Rule="ok",
            Targets=[{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:1:function:f", "Input": "{"}],
        )
    with pytest.raises(ClientError, match="not supported"):
        client.put_targets(
            Rule="ok", Targets=[{"Id": "t", "Arn": "arn:aws:kinesis:us-east-1:1:stream/s"}]
        )
