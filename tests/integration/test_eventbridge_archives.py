"""EventBridge archives and replays through a real ``lamina serve``, driven by boto3: events
put to a custom bus archived (pattern-filtered), a replay that delivers them again, with
``replay-name``, to a rule's queue and to a real function, a replay restricted to one rule,
cancel's refusal of a finished replay, and archives and replays kept across a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.events.live import (
    ACCOUNT,
    REGION,
    ROLE,
    client,
    function_arn,
    kill,
    queue_arn,
    receive_all,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/shop"
ARCHIVE = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/orders"
HANDLER = """\
def handler(event, context):
    return {"seen": event}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = start_server(tmp_path_factory.mktemp("archives") / "data")
    yield server
    server.stop()


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def drain(sqs: Any, url: str, count: int, what: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def enough() -> bool:
        got.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))
        return len(got) >= count

    wait_until(enough, what=what)
    assert len(got) == count, got
    return got


def finished(events: Any, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = {}

    def done() -> bool:
        shown.update(events.describe_replay(ReplayName=name))
        return shown["State"] in ("COMPLETED", "CANCELLED", "FAILED")

    wait_until(done, what=f"replay {name} to finish")
    return shown


def test_archived_events_replay_to_a_queue_and_a_function(server: LaminaProcess) -> None:
    events, sqs, lam = (client(server.endpoint, s) for s in ("events", "sqs", "lambda"))
    events.create_event_bus(Name="shop")
    queue = sqs.create_queue(QueueName="orders-seen")["QueueUrl"]
    other_queue = sqs.create_queue(QueueName="other-seen")["QueueUrl"]
    results = sqs.create_queue(QueueName="function-results")["QueueUrl"]
    lam.create_function(
        FunctionName="seen",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(HANDLER)},
        MemorySize=256,
    )
    lam.put_function_event_invoke_config(
        FunctionName="seen",
        DestinationConfig={"OnSuccess": {"Destination": queue_arn("function-results")}},
    )
    made = events.create_archive(
        ArchiveName="orders",
        EventSourceArn=BUS,
        EventPattern=json.dumps({"source": ["shop"]}),
        RetentionDays=30,
    )
    assert (made["ArchiveArn"], made["State"]) == (ARCHIVE, "ENABLED")
    with pytest.raises(ClientError) as err:
        events.create_archive(ArchiveName="orders", EventSourceArn=BUS)
    assert code(err) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        events.create_archive(ArchiveName="x", EventSourceArn=BUS + "-nope")
    assert code(err) == "ResourceNotFoundException"

    pattern = json.dumps({"source": ["shop"]})
    events.put_rule(Name="orders", EventPattern=pattern, EventBusName="shop")
    events.put_targets(
        Rule="orders",
        EventBusName="shop",
        Targets=[
            {"Id": "q", "Arn": queue_arn("orders-seen")},
            {"Id": "f", "Arn": function_arn("seen")},
        ],
    )
    events.put_rule(Name="other", EventPattern=pattern, EventBusName="shop")
    events.put_targets(
        Rule="other", EventBusName="shop", Targets=[{"Id": "q", "Arn": queue_arn("other-seen")}]
    )
    start = datetime.now(UTC) - timedelta(seconds=5)
    entries = [
        {
            "Source": "shop",
            "DetailType": "Order",
            "Detail": json.dumps({"n": n}),
            "EventBusName": "shop",
        }
        for n in range(3)
    ]
    entries.append(
        {"Source": "elsewhere", "DetailType": "X", "Detail": "{}", "EventBusName": "shop"}
    )
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    first = drain(sqs, queue, 3, "the events at the rule's queue")
    assert all("replay-name" not in e for e in first)
    drain(sqs, other_queue, 3, "the events at the other rule's queue")
    drain(sqs, results, 3, "the function's first three results")

    archive: dict[str, Any] = {}

    def archived() -> bool:
        archive.update(events.describe_archive(ArchiveName="orders"))
        return bool(archive["EventCount"] == 3)

    wait_until(archived, what="three events in the archive")  # the fourth's source differs
    assert archive["SizeBytes"] > 0 and archive["RetentionDays"] == 30
    assert archive["EventSourceArn"] == BUS

    started = events.start_replay(
        ReplayName="fix-1",
        EventSourceArn=ARCHIVE,
        EventStartTime=start,
        EventEndTime=datetime.now(UTC),
        Destination={
            "Arn": BUS,
            "FilterArns": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/shop/orders"],
        },
    )
    assert started["State"] == "STARTING"
    shown = finished(events, "fix-1")
    assert shown["State"] == "COMPLETED", shown
    assert shown["EventSourceArn"] == ARCHIVE and "EventLastReplayedTime" in shown
    again = drain(sqs, queue, 3, "the replayed events at the rule's queue")
    assert {e["replay-name"] for e in again} == {"fix-1"}
    assert sorted(e["id"] for e in again) == sorted(e["id"] for e in first)
    records = drain(sqs, results, 3, "the function's results for the replayed events")
    assert {r["requestPayload"]["replay-name"] for r in records} == {"fix-1"}
    assert sorted(r["responsePayload"]["seen"]["detail"]["n"] for r in records) == [0, 1, 2]
    # FilterArns left the other rule out, and the replay was not archived again.
    assert receive_all(sqs, other_queue, wait_s=1) == []
    assert events.describe_archive(ArchiveName="orders")["EventCount"] == 3

    with pytest.raises(ClientError) as err:
        events.cancel_replay(ReplayName="fix-1")
    assert code(err) == "IllegalStatusException"
    with pytest.raises(ClientError) as err:
        events.start_replay(
            ReplayName="fix-2",
            EventSourceArn=ARCHIVE,
            EventStartTime=start,
            EventEndTime=datetime.now(UTC) + timedelta(hours=1),
            Destination={"Arn": BUS},
        )
    assert code(err) == "ValidationException"
    listed = events.list_replays(EventSourceArn=ARCHIVE)["Replays"]
    assert [(r["ReplayName"], r["State"]) for r in listed] == [("fix-1", "COMPLETED")]


def test_a_replay_a_crash_cut_short_is_never_left_running(server: LaminaProcess) -> None:
    """SIGKILL right after StartReplay: after the restart the replay is FAILED, saying the
    restart stopped it (or COMPLETED, had it finished first) — never RUNNING."""
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    events.create_archive(ArchiveName="bulk", EventSourceArn=BUS)
    start = datetime.now(UTC) - timedelta(seconds=5)
    for batch in range(100):
        entries = [
            {
                "Source": "bulk",
                "DetailType": "B",
                "Detail": json.dumps({"n": batch * 10 + i}),
                "EventBusName": "shop",
            }
            for i in range(10)
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    wait_until(
        lambda: events.describe_archive(ArchiveName="bulk")["EventCount"] == 1000,
        what="a thousand events in the archive",
    )
    sqs.create_queue(QueueName="bulk-seen")
    events.put_rule(Name="bulk", EventPattern='{"source": ["bulk"]}', EventBusName="shop")
    events.put_targets(
        Rule="bulk", EventBusName="shop", Targets=[{"Id": "q", "Arn": queue_arn("bulk-seen")}]
    )
    events.start_replay(
        ReplayName="cut",
        EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:archive/bulk",
        EventStartTime=start,
        EventEndTime=datetime.now(UTC),
        Destination={"Arn": BUS},
    )
    kill(server)
    server.start()
    events = client(server.endpoint, "events")
    shown = events.describe_replay(ReplayName="cut")
    assert shown["State"] in ("FAILED", "COMPLETED"), shown
    if shown["State"] == "FAILED":
        assert "Lamina restarted while the replay was" in shown["StateReason"]
        assert "ReplayEndTime" in shown


def test_a_restart_keeps_archives_and_replays(server: LaminaProcess) -> None:
    """Runs last: restarts the module's server on its data directory."""
    server.stop()
    server.start()
    events = client(server.endpoint, "events")
    archive = events.describe_archive(ArchiveName="orders")
    assert (archive["EventCount"], archive["RetentionDays"]) == (3, 30)
    assert events.describe_replay(ReplayName="fix-1")["State"] == "COMPLETED"
    events.delete_archive(ArchiveName="orders")
    with pytest.raises(ClientError) as err:
        events.describe_archive(ArchiveName="orders")
    assert code(err) == "ResourceNotFoundException"
