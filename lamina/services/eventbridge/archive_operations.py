"""EventBridge's archive and replay operations (CreateArchive ... CancelReplay) and the
replay driver.

Every event put to a bus (PutEvents, Lambda's event-bus destinations) is offered to the
bus's archives (:meth:`ArchiveOperations.record`); a replay is a task on the server's loop
that reads the archive's events of its window in order and puts each, with
``replay-name`` set as EventBridge sets it, to the bus's rules (all, or the
``Destination.FilterArns``). Replayed events are not archived again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.archive_requests import (
    ARCHIVE_STATES,
    REPLAY_STATES,
    ListQuery,
    archive_name,
    description,
    event_pattern,
    parse_list,
    parse_start_replay,
    replay_name,
    retention_days,
    source_bus,
)
from lamina.services.eventbridge.archives import (
    ACTIVE,
    CANCELLABLE,
    Archive,
    ArchiveStore,
    Replay,
    recovered,
)
from lamina.services.eventbridge.pattern import matches, parse_pattern
from lamina.services.eventbridge.requests import Members, bus_of, validation

log = logging.getLogger("lamina.events.archives")

REPLAY_FIELD = "replay-name"  # set on replayed events, as EventBridge sets it
MAX_ACTIVE_REPLAYS = 10  # EventBridge's quota of concurrent replays per account
SWEEP_EVERY_S = 60.0
# PutEvents to a bus, restricted to some rules (their ARNs; None: all): how many matched.
PutEvent = Callable[[str, dict[str, Any], Collection[str] | None], int]


def archive_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:archive/{name}"


def replay_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:replay/{name}"


def _not_found(kind: str, name: str) -> AwsServiceError:
    return AwsServiceError("ResourceNotFoundException", f"{kind} {name} does not exist.")


class ArchiveOperations:
    def __init__(
        self,
        store: ArchiveStore,
        region: str,
        account: str,
        *,
        has_bus: Callable[[str], bool],
        bus_arn: Callable[[str], str],
        put_event: PutEvent,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._has_bus = has_bus
        self._bus_arn = bus_arn
        self._put_event = put_event
        self._clock = clock
        self._last_sweep = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        now = clock()
        for replay in list(store.replays.values()):
            after = recovered(replay, now)
            if after != replay:
                log.warning("replay %s: %s", replay.name, after.reason or after.state)
                store.save_replay(after)

    def table(self) -> dict[str, Callable[[Members], dict[str, Any]]]:
        return {
            "CreateArchive": self.create_archive,
            "DescribeArchive": self.describe_archive,
            "UpdateArchive": self.update_archive,
            "DeleteArchive": self.delete_archive,
            "ListArchives": self.list_archives,
            "StartReplay": self.start_replay,
            "DescribeReplay": self.describe_replay,
            "ListReplays": self.list_replays,
            "CancelReplay": self.cancel_replay,
        }

    # -- the bus's side -----------------------------------------------------------------
    def record(self, bus: str, event: dict[str, Any]) -> None:
        """Keep an event put to ``bus`` in each of its archives whose pattern it matches
        (not a replayed one: EventBridge's archives skip those)."""
        if REPLAY_FIELD in event:
            return
        now = self._clock()
        for archive in self.store.archives.values():
            if archive.bus != bus:
                continue
            pattern = archive.event_pattern
            if pattern is None or matches(parse_pattern(pattern), event):
                self.store.append(archive.name, event, now)
        if now - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = now
            self.store.sweep(now)

    def bus_deleted(self, bus: str) -> None:
        """A deleted bus's archives go with it (their events too)."""
        for archive in [a for a in self.store.archives.values() if a.bus == bus]:
            self.store.delete_archive(archive.name)

    # -- archives -----------------------------------------------------------------------
    def _archive(self, name: str) -> Archive:
        archive = self.store.archives.get(name)
        if archive is None:
            raise _not_found("Archive", name)
        return archive

    def _answer(self, archive: Archive) -> dict[str, Any]:
        return {
            "ArchiveArn": archive_arn(self.region, self.account, archive.name),
            "State": "ENABLED",
            "CreationTime": archive.created,
        }

    def _shape(self, archive: Archive, count: int, size: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ArchiveName": archive.name,
            "EventSourceArn": self._bus_arn(archive.bus),
            "State": "ENABLED",
            "RetentionDays": archive.retention_days,
            "SizeBytes": size,
            "EventCount": count,
            "CreationTime": archive.created,
        }
        return out

    def create_archive(self, members: Members) -> dict[str, Any]:
        name = archive_name(members)
        bus = source_bus(members)
        text = description(members) or ""
        pattern = event_pattern(members)
        days = retention_days(members) or 0
        if members.get("KmsKeyIdentifier"):
            raise validation("KmsKeyIdentifier is not supported by Lamina.")
        if not self._has_bus(bus):
            raise _not_found("Event bus", bus)
        if name in self.store.archives:
            raise AwsServiceError(
                "ResourceAlreadyExistsException", f"Archive {name} already exists."
            )
        archive = Archive(name, bus, text, pattern, days, self._clock())
        self.store.save_archive(archive)
        return self._answer(archive)

    def describe_archive(self, members: Members) -> dict[str, Any]:
        archive = self._archive(archive_name(members))
        self.store.sweep(self._clock()).result()
        out = self._shape(archive, *self.store.usage(archive.name))
        out["ArchiveArn"] = archive_arn(self.region, self.account, archive.name)
        if archive.description:
            out["Description"] = archive.description
        if archive.event_pattern is not None:
            out["EventPattern"] = archive.event_pattern
        return out

    def update_archive(self, members: Members) -> dict[str, Any]:
        """Replace an archive's Description, EventPattern and RetentionDays: one left out is
        cleared (no description, every event, kept for ever). Terraform's provider leaves out
        an empty description, a removed pattern and a 0 retention, and plans clean only if
        they are cleared; each clearing keeps more, never less."""
        archive = self._archive(archive_name(members))
        text = description(members) or ""
        pattern = event_pattern(members)
        days = retention_days(members) or 0
        if members.get("KmsKeyIdentifier"):
            raise validation("KmsKeyIdentifier is not supported by Lamina.")
        changed = replace(archive, description=text, event_pattern=pattern, retention_days=days)
        self.store.save_archive(changed)
        return self._answer(changed)

    def delete_archive(self, members: Members) -> dict[str, Any]:
        name = self._archive(archive_name(members)).name
        self.store.delete_archive(name)
        return {}

    def list_archives(self, members: Members) -> dict[str, Any]:
        query = parse_list(members, ARCHIVE_STATES)
        bus = None
        if query.source_arn is not None:
            bus = bus_of(query.source_arn)
            if bus is None or not self._has_bus(bus):
                raise _not_found("Event bus", str(query.source_arn))
        if query.state not in (None, "ENABLED"):
            return {"Archives": []}  # every Lamina archive is ENABLED
        self.store.sweep(self._clock()).result()
        names = _page(
            sorted(
                a.name
                for a in self.store.archives.values()
                if (bus is None or a.bus == bus) and a.name.startswith(query.prefix)
            ),
            query,
        )
        out: dict[str, Any] = {
            "Archives": [
                self._shape(self.store.archives[n], *self.store.usage(n)) for n in names[0]
            ]
        }
        if names[1] is not None:
            out["NextToken"] = names[1]
        return out

    # -- replays --------------------------------------------------------------------------
    def _replay(self, name: str) -> Replay:
        replay = self.store.replays.get(name)
        if replay is None:
            raise _not_found("Replay", name)
        return replay

    def _replay_shape(self, r: Replay, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ReplayName": r.name,
            "EventSourceArn": archive_arn(self.region, self.account, r.archive),
            "State": r.state,
            "EventStartTime": r.event_start,
            "EventEndTime": r.event_end,
            "ReplayStartTime": r.started,
        }
        if r.reason:
            out["StateReason"] = r.reason
        if r.last_replayed is not None:
            out["EventLastReplayedTime"] = r.last_replayed
        if r.ended is not None:
            out["ReplayEndTime"] = r.ended
        if full:
            out["ReplayArn"] = replay_arn(self.region, self.account, r.name)
            destination: dict[str, Any] = {"Arn": r.destination}
            if r.filter_arns:
                destination["FilterArns"] = list(r.filter_arns)
            out["Destination"] = destination
            if r.description:
                out["Description"] = r.description
        return out

    def start_replay(self, members: Members) -> dict[str, Any]:
        now = self._clock()
        req = parse_start_replay(members, now)
        prefix = archive_arn(self.region, self.account, "")
        name = req.archive_arn[len(prefix) :] if req.archive_arn.startswith(prefix) else None
        if name is None or name not in self.store.archives:
            raise _not_found("Archive", name or req.archive_arn)
        archive = self.store.archives[name]
        if bus_of(req.destination) != archive.bus:
            raise validation(
                "Parameter Destination.Arn is not valid. "
                "Reason: Cross event bus replay is not permitted."
            )
        if req.name in self.store.replays:
            raise AwsServiceError(
                "ResourceAlreadyExistsException", f"Replay {req.name} already exists."
            )
        if sum(r.state in ACTIVE for r in self.store.replays.values()) >= MAX_ACTIVE_REPLAYS:
            raise AwsServiceError(
                "LimitExceededException",
                f"The limit of {MAX_ACTIVE_REPLAYS} concurrent replays has been reached.",
            )
        replay = Replay(
            req.name,
            name,
            req.description,
            req.start,
            req.end,
            req.destination,
            req.filter_arns,
            "STARTING",
            "",
            None,
            now,
            None,
        )
        self.store.save_replay(replay)
        task = asyncio.get_running_loop().create_task(self._run(replay.name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {
            "ReplayArn": replay_arn(self.region, self.account, replay.name),
            "State": replay.state,
            "ReplayStartTime": replay.started,
        }

    def describe_replay(self, members: Members) -> dict[str, Any]:
        return self._replay_shape(self._replay(replay_name(members)), full=True)

    def list_replays(self, members: Members) -> dict[str, Any]:
        query = parse_list(members, REPLAY_STATES)
        replays = self.store.replays
        source = query.source_arn
        names = _page(
            sorted(
                r.name
                for r in replays.values()
                if r.name.startswith(query.prefix)
                and (query.state is None or r.state == query.state)
                and (source is None or archive_arn(self.region, self.account, r.archive) == source)
            ),
            query,
        )
        out: dict[str, Any] = {
            "Replays": [self._replay_shape(replays[n], full=False) for n in names[0]]
        }
        if names[1] is not None:
            out["NextToken"] = names[1]
        return out

    def cancel_replay(self, members: Members) -> dict[str, Any]:
        replay = self._replay(replay_name(members))
        if replay.state not in CANCELLABLE:
            raise AwsServiceError(
                "IllegalStatusException",
                f"Replay {replay.name} is not in a valid state for this operation "
                f"({replay.state}).",
            )
        cancelling = replace(replay, state="CANCELLING")
        self.store.save_replay(cancelling)
        return {
            "ReplayArn": replay_arn(self.region, self.account, replay.name),
            "State": cancelling.state,
        }

    # -- the replay driver ------------------------------------------------------------------
    async def _run(self, name: str) -> None:
        """Replay ``name``'s window; every way out leaves it COMPLETED, CANCELLED or
        FAILED."""
        try:
            await self._replay_events(name)
        except Exception as exc:
            log.exception("replay %s failed", name)
            current = self.store.replays[name]
            await self.store.record_replay(
                replace(
                    current,
                    state="FAILED",
                    reason=f"Replay failed: {exc}"[:512],
                    ended=self._clock(),
                )
            )

    async def _settle(self, name: str) -> bool:
        """Let a cancel land; True when the replay was cancelled (and is now CANCELLED)."""
        await asyncio.sleep(0)
        current = self.store.replays[name]
        if current.state != "CANCELLING":
            return False
        await self.store.record_replay(replace(current, state="CANCELLED", ended=self._clock()))
        return True

    async def _replay_events(self, name: str) -> None:
        if await self._settle(name):
            return
        await self.store.record_replay(replace(self.store.replays[name], state="RUNNING"))
        replay = self.store.replays[name]
        bus = bus_of(replay.destination)
        assert bus is not None
        only = replay.filter_arns or None
        after = 0
        while True:
            if replay.archive not in self.store.archives:
                raise RuntimeError(f"archive {replay.archive} was deleted")
            rows = await self.store.page(
                replay.archive, replay.event_start, replay.event_end, after
            )
            if not rows:
                break
            for seq, at, body in rows:
                if await self._settle(name):
                    return
                event = json.loads(body)
                event[REPLAY_FIELD] = name
                self._put_event(bus, event, only)
                after = seq
                await self.store.record_replay(replace(self.store.replays[name], last_replayed=at))
        if await self._settle(name):
            return
        await self.store.record_replay(
            replace(self.store.replays[name], state="COMPLETED", ended=self._clock())
        )

    async def close(self) -> None:
        """Stop the replays under way (the next start marks them FAILED)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _page(names: list[str], query: ListQuery) -> tuple[list[str], str | None]:
    if query.next_token:
        names = [n for n in names if n > query.next_token]
    page = names[: query.limit]
    return page, page[-1] if len(names) > query.limit else None
