"""EventBridge archives and replays in ArchiveOperations and ArchiveStore (no server): what an
archive keeps (its pattern, its bus, not replayed events), its counts, retention, the
refusals, a replay's window, filters, ``replay-name``, states, cancel, and a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lamina.arns import event_bus_arn, rule_arn
from lamina.errors import AwsServiceError
from lamina.services.eventbridge.archive_operations import ArchiveOperations, archive_arn
from lamina.services.eventbridge.archives import (
    DAY_S,
    ArchiveStore,
    Replay,
    event_time,
    recovered,
    retention_cutoff,
)
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import RuleStore

REGION, ACCOUNT = "us-east-1", "000000000000"
T0 = 1_790_000_000.0  # the fake clock's start; events are timed from it


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    rules: RuleOperations
    archives: ArchiveOperations
    clock: Clock
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def bus(name: str) -> str:
    return event_bus_arn(REGION, ACCOUNT, name)


def open_world(tmp_path: Path, clock: Clock) -> World:
    rules = RuleOperations(RuleStore(tmp_path / "schedules.db"), REGION, ACCOUNT, clock=clock)
    archives = ArchiveOperations(
        ArchiveStore(tmp_path / "event-archives.db", fsync=False),
        REGION,
        ACCOUNT,
        has_bus=rules.has_bus,
        bus_arn=bus,
        put_event=rules.put_event,
        clock=clock,
    )
    rules.archive = archives.record
    rules.bus_deleted = archives.bus_deleted
    world = World(rules, archives, clock)
    rules.publish = lambda rule, event: world.published.append((rule.name, event))
    return world


def close(world: World) -> None:
    world.archives.store.close()
    world.rules.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = open_world(tmp_path, Clock())
    yield w
    close(w)


def put(world: World, n: int, source: str = "shop", on: str = "default", at: float = T0) -> None:
    answer = world.rules.put_events(
        {
            "Entries": [
                {
                    "Source": source,
                    "DetailType": "Order",
                    "Detail": json.dumps({"n": n}),
                    "EventBusName": on,
                    "Time": at,
                }
            ]
        }
    )
    assert answer["FailedEntryCount"] == 0


def refused(code: str, call: Any, members: dict[str, Any]) -> str:
    with pytest.raises(AwsServiceError) as err:
        call(members)
    assert err.value.code == code
    return err.value.message


def rule(world: World, name: str, pattern: str = '{"source": ["shop"]}') -> str:
    return world.rules.put_rule({"Name": name, "EventPattern": pattern})["RuleArn"]  # type: ignore[no-any-return]


def test_an_archive_keeps_the_events_its_pattern_matches_on_its_bus(world: World) -> None:
    world.rules.create_event_bus({"Name": "other"})
    made = world.archives.create_archive(
        {
            "ArchiveName": "shop",
            "EventSourceArn": bus("default"),
            "EventPattern": '{"source": ["shop"]}',
            "Description": "orders",
        }
    )
    assert made["ArchiveArn"] == archive_arn(REGION, ACCOUNT, "shop")
    assert made["State"] == "ENABLED"
    world.archives.create_archive({"ArchiveName": "all", "EventSourceArn": bus("default")})
    put(world, 1)
    put(world, 2, source="else")
    put(world, 3, on="other")
    shop = world.archives.describe_archive({"ArchiveName": "shop"})
    every = world.archives.describe_archive({"ArchiveName": "all"})
    assert (shop["EventCount"], every["EventCount"]) == (1, 2)
    assert 0 < shop["SizeBytes"] < every["SizeBytes"]
    assert shop["EventPattern"] == '{"source": ["shop"]}'
    assert (shop["Description"], shop["RetentionDays"]) == ("orders", 0)
    assert shop["EventSourceArn"] == bus("default")
    listed = world.archives.list_archives({"EventSourceArn": bus("default")})["Archives"]
    assert [a["ArchiveName"] for a in listed] == ["all", "shop"]
    assert world.archives.list_archives({"NamePrefix": "sh"})["Archives"][0]["EventCount"] == 1


def test_archive_refusals_carry_eventbridges_codes(world: World) -> None:
    made = {"ArchiveName": "a", "EventSourceArn": bus("default")}
    world.archives.create_archive(made)
    assert refused("ResourceAlreadyExistsException", world.archives.create_archive, made) == (
        "Archive a already exists."
    )
    assert (
        refused(
            "ResourceNotFoundException",
            world.archives.create_archive,
            {"ArchiveName": "b", "EventSourceArn": bus("nope")},
        )
        == "Event bus nope does not exist."
    )
    refused(
        "InvalidEventPatternException",
        world.archives.create_archive,
        {**made, "ArchiveName": "c", "EventPattern": '{"source": "x"}'},
    )
    refused(
        "ValidationException",
        world.archives.create_archive,
        {**made, "ArchiveName": "d", "RetentionDays": -1},
    )
    refused("ValidationException", world.archives.create_archive, {**made, "ArchiveName": "a b"})
    refused(
        "ValidationException",
        world.archives.create_archive,
        {"ArchiveName": "e", "EventSourceArn": "default"},
    )
    for call in (world.archives.describe_archive, world.archives.delete_archive):
        assert refused("ResourceNotFoundException", call, {"ArchiveName": "zz"}) == (
            "Archive zz does not exist."
        )
    refused("ResourceNotFoundException", world.archives.update_archive, {"ArchiveName": "zz"})


def test_update_and_delete_an_archive(world: World) -> None:
    world.archives.create_archive(
        {"ArchiveName": "a", "EventSourceArn": bus("default"), "Description": "d"}
    )
    put(world, 1)
    world.archives.update_archive(
        {"ArchiveName": "a", "RetentionDays": 3, "EventPattern": '{"source": ["x"]}'}
    )
    put(world, 2)  # no longer matches
    shown = world.archives.describe_archive({"ArchiveName": "a"})
    assert (shown["RetentionDays"], shown["EventCount"]) == (3, 1)
    assert "Description" not in shown  # left out: cleared, as Terraform expects
    # Left out again: every event, kept for ever.
    world.archives.update_archive({"ArchiveName": "a"})
    put(world, 3)
    shown = world.archives.describe_archive({"ArchiveName": "a"})
    assert (shown["RetentionDays"], shown["EventCount"]) == (0, 2)
    assert "EventPattern" not in shown
    world.archives.delete_archive({"ArchiveName": "a"})
    assert world.archives.list_archives({})["Archives"] == []
    # A new archive of the same name starts empty.
    world.archives.create_archive({"ArchiveName": "a", "EventSourceArn": bus("default")})
    assert world.archives.describe_archive({"ArchiveName": "a"})["EventCount"] == 0


def test_retention_drops_events_archived_longer_ago_than_it_keeps_them(world: World) -> None:
    world.archives.create_archive(
        {"ArchiveName": "week", "EventSourceArn": bus("default"), "RetentionDays": 7}
    )
    world.archives.create_archive({"ArchiveName": "ever", "EventSourceArn": bus("default")})
    put(world, 1)
    world.clock.now = T0 + 6 * DAY_S
    put(world, 2)
    world.clock.now = T0 + 7 * DAY_S + 1
    week = world.archives.describe_archive({"ArchiveName": "week"})
    ever = world.archives.describe_archive({"ArchiveName": "ever"})
    assert (week["EventCount"], ever["EventCount"]) == (1, 2)


def test_the_retention_and_event_time_decisions() -> None:
    assert retention_cutoff(0, T0) is None
    assert retention_cutoff(2, T0) == T0 - 2 * DAY_S
    assert event_time({"time": "2026-12-06T08:30:00Z"}, 5.0) == 1_796_545_800.0
    assert event_time({"time": "yesterday"}, 5.0) == 5.0


def replay(**changes: Any) -> Replay:
    base = Replay("r", "a", "", 0.0, 10.0, bus("default"), (), "RUNNING", "", None, 1.0, None)
    return (
        base
        if not changes
        else Replay(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})
    )


def test_a_restart_fails_the_replays_under_way_and_ends_the_cancelled_ones() -> None:
    running = recovered(replay(last_replayed=4.0), 9.0)
    assert (running.state, running.ended) == ("FAILED", 9.0)
    assert "EventLastReplayedTime" in running.reason
    starting = recovered(replay(state="STARTING"), 9.0)
    assert starting.state == "FAILED" and "no event was replayed" in starting.reason
    assert recovered(replay(state="CANCELLING"), 9.0).state == "CANCELLED"
    done = replay(state="COMPLETED", ended=5.0)
    assert recovered(done, 9.0) == done


async def settle(world: World, name: str) -> dict[str, Any]:
    for _ in range(1000):
        shown = world.archives.describe_replay({"ReplayName": name})
        if shown["State"] in ("COMPLETED", "CANCELLED", "FAILED"):
            return shown
        await asyncio.sleep(0.001)
    raise AssertionError(f"replay {name} did not finish")


def test_a_replay_puts_its_windows_events_back_with_replay_name(world: World) -> None:
    shop = rule(world, "shop")
    assert rule(world, "other") == rule_arn(REGION, ACCOUNT, "other")  # matches, filtered out
    world.archives.create_archive({"ArchiveName": "a", "EventSourceArn": bus("default")})
    for n in range(5):
        put(world, n, at=T0 + 60 * n)
    world.published.clear()
    world.clock.now = T0 + 3600

    async def go() -> dict[str, Any]:
        started = world.archives.start_replay(
            {
                "ReplayName": "fix",
                "EventSourceArn": archive_arn(REGION, ACCOUNT, "a"),
                "EventStartTime": T0 + 60,
                "EventEndTime": T0 + 240,  # events 1, 2, 3
                "Destination": {"Arn": bus("default"), "FilterArns": [shop]},
            }
        )
        assert started["State"] == "STARTING"
        return await settle(world, "fix")

    shown = asyncio.run(go())
    assert shown["State"] == "COMPLETED"
    assert shown["EventLastReplayedTime"] == T0 + 180
    assert shown["Destination"] == {"Arn": bus("default"), "FilterArns": [shop]}
    assert [(r, e["detail"]["n"], e["replay-name"]) for r, e in world.published] == [
        ("shop", 1, "fix"),
        ("shop", 2, "fix"),
        ("shop", 3, "fix"),
    ]
    # Replayed events are not archived again.
    assert world.archives.describe_archive({"ArchiveName": "a"})["EventCount"] == 5
    listed = world.archives.list_replays({"State": "COMPLETED"})["Replays"]
    assert [r["ReplayName"] for r in listed] == ["fix"]


def test_replay_refusals_and_cancel(world: World) -> None:
    rule(world, "shop")
    world.rules.create_event_bus({"Name": "other"})
    world.archives.create_archive({"ArchiveName": "a", "EventSourceArn": bus("default")})
    for n in range(300):
        put(world, n, at=T0)
    world.clock.now = T0 + 60
    world.published.clear()
    good = {
        "ReplayName": "r1",
        "EventSourceArn": archive_arn(REGION, ACCOUNT, "a"),
        "EventStartTime": T0 - 10,
        "EventEndTime": T0 + 10,
        "Destination": {"Arn": bus("default")},
    }

    async def go() -> None:
        start = world.archives.start_replay
        assert "future" in refused("ValidationException", start, {**good, "EventEndTime": T0 + 99})
        assert "before" in refused(
            "ValidationException", start, {**good, "EventStartTime": T0 + 10}
        )
        assert "Cross event bus" in refused(
            "ValidationException", start, {**good, "Destination": {"Arn": bus("other")}}
        )
        refused(
            "ResourceNotFoundException",
            start,
            {**good, "EventSourceArn": archive_arn(REGION, ACCOUNT, "nope")},
        )
        start(good)
        refused("ResourceAlreadyExistsException", start, good)
        cancelled = world.archives.cancel_replay({"ReplayName": "r1"})
        assert cancelled["State"] == "CANCELLING"
        shown = await settle(world, "r1")
        assert shown["State"] == "CANCELLED"
        # Cancelled before its task ran: nothing was replayed.
        assert world.published == [] and "EventLastReplayedTime" not in shown
        refused("IllegalStatusException", world.archives.cancel_replay, {"ReplayName": "r1"})
        refused("ResourceNotFoundException", world.archives.describe_replay, {"ReplayName": "x"})

    asyncio.run(go())


def test_a_reopened_store_keeps_archives_and_fails_an_interrupted_replay(tmp_path: Path) -> None:
    clock = Clock()
    first = open_world(tmp_path, clock)
    rule(first, "shop")
    first.archives.create_archive(
        {"ArchiveName": "a", "EventSourceArn": bus("default"), "RetentionDays": 30}
    )
    put(first, 1)
    # A replay the server was running when it stopped (as its row stays after a crash).
    first.archives.store.save_replay(replay(name="cut", archive="a", last_replayed=T0))
    close(first)
    again = open_world(tmp_path, clock)
    try:
        shown = again.archives.describe_archive({"ArchiveName": "a"})
        assert (shown["EventCount"], shown["RetentionDays"]) == (1, 30)
        cut = again.archives.describe_replay({"ReplayName": "cut"})
        assert cut["State"] == "FAILED"
        assert "restarted" in cut["StateReason"]
    finally:
        close(again)


def test_deleting_a_bus_deletes_its_archives(world: World) -> None:
    world.rules.create_event_bus({"Name": "other"})
    world.archives.create_archive({"ArchiveName": "a", "EventSourceArn": bus("other")})
    world.rules.delete_event_bus({"Name": "other"})
    assert world.archives.list_archives({})["Archives"] == []


def test_at_most_ten_replays_are_under_way_and_lists_page(world: World) -> None:
    for name in ("a", "b", "c"):
        world.archives.create_archive({"ArchiveName": name, "EventSourceArn": bus("default")})
    first = world.archives.list_archives({"Limit": 2})
    assert [a["ArchiveName"] for a in first["Archives"]] == ["a", "b"]
    rest = world.archives.list_archives({"Limit": 2, "NextToken": first["NextToken"]})
    assert [a["ArchiveName"] for a in rest["Archives"]] == ["c"] and "NextToken" not in rest
    world.clock.now = T0 + 60

    def start(n: int) -> dict[str, Any]:
        return world.archives.start_replay(
            {
                "ReplayName": f"r{n}",
                "EventSourceArn": archive_arn(REGION, ACCOUNT, "a"),
                "EventStartTime": T0,
                "EventEndTime": T0 + 10,
                "Destination": {"Arn": bus("default")},
            }
        )

    async def go() -> None:
        for n in range(10):  # none has run yet: all STARTING
            start(n)
        with pytest.raises(AwsServiceError) as err:
            start(10)
        assert err.value.code == "LimitExceededException"
        for n in range(10):
            assert (await settle(world, f"r{n}"))["State"] == "COMPLETED"
        start(10)  # the finished ones no longer count
        assert (await settle(world, "r10"))["State"] == "COMPLETED"

    asyncio.run(go())
