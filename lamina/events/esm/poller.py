"""Pollers: read a mapped queue in batches, invoke the function, delete what succeeded.

Each enabled mapping runs ``MaximumConcurrency`` workers (5 when unset, as Lambda starts
with five pollers). A worker gathers up to ``BatchSize`` messages, for at most
``MaximumBatchingWindowInSeconds`` once the first arrived (and never more than 6 MB),
invokes synchronously, and then deletes the messages that succeeded. Failed messages are
left alone: they reappear after the queue's visibility timeout, and the queue's redrive
policy moves them to its dead-letter queue after ``maxReceiveCount`` receives.

On a FIFO queue the queue itself keeps a group's messages from two batches at once (none
of a group is received while one is in flight), so a failed batch holds its groups back
until it comes back and succeeds; a partial failure also holds back the rest of each
failed record's group (:func:`lamina.events.esm.event.held_back_in_groups`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from lamina.errors import ResourceNotFound, TooManyRequests
from lamina.events.esm.clients import QueueClient
from lamina.events.esm.config import Mapping
from lamina.events.esm.event import (
    QueueMessage,
    failed_message_ids,
    held_back_in_groups,
    sqs_event,
)
from lamina.events.esm.store import MappingStore
from lamina.events.invoker import Invoke
from lamina.events.recursion import RecursionGuard
from lamina.tracing import continued
from lamina.triggers import PUBSUB, triggered
from lamina.waiting import wait_event

log = logging.getLogger("lamina.events.esm")

DEFAULT_POLLERS = 5
MAX_PAYLOAD = 6 * 1024 * 1024
LONG_POLL_S = 20.0


@dataclass(slots=True)
class BatchCounts:
    """A mapping's batches since the server started (kept across its pollers' restarts):
    those handed to the function, the records in them, and those that failed."""

    function: str
    source: str
    batches: int = 0
    records: int = 0
    failed: int = 0


class MappingPoller:
    """The workers of one mapping."""

    def __init__(
        self,
        mapping: Mapping,
        client: QueueClient,
        invoke: Invoke,
        region: str,
        report: Callable[[str, str], None],
        counts: BatchCounts | None = None,
    ) -> None:
        self.mapping = mapping
        self.client = client
        self._invoke = invoke
        self._region = region
        self._report = report  # (uuid, LastProcessingResult)
        self.recursion: RecursionGuard | None = None  # recursive loop detection
        self._tasks: list[asyncio.Task[None]] = []
        self.counts = counts or BatchCounts(mapping.function_name, mapping.event_source_arn)

    def start(self) -> None:
        n = self.mapping.maximum_concurrency or DEFAULT_POLLERS
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(n)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.client.close()

    async def _work(self) -> None:
        while True:
            try:
                batch = await self._collect()
                if batch:
                    await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report(self.mapping.uuid, f"PROBLEM: {exc}")
                log.warning("mapping %s: %s", self.mapping.uuid, exc)
                await asyncio.sleep(1.0)

    async def _collect(self) -> list[QueueMessage]:
        m = self.mapping
        batch: list[QueueMessage] = []
        size = 0
        first_at: float | None = None
        while len(batch) < m.batch_size:
            if not batch:
                wait = LONG_POLL_S
            elif m.batching_window_s == 0:
                break
            else:
                assert first_at is not None
                wait = first_at + m.batching_window_s - time.monotonic()
                if wait <= 0:
                    break
            got = await self.client.receive(min(10, m.batch_size - len(batch)), wait)
            if got and first_at is None:
                first_at = time.monotonic()
            overflow: list[str] = []
            for msg in got:
                cost = len(msg.body.encode()) + 1024  # the record's other fields
                # Once one message does not fit, none after it joins (a later, smaller one
                # of the same FIFO group would overtake it).
                if overflow or (size + cost > MAX_PAYLOAD and batch):
                    overflow.append(msg.receipt_handle)
                    continue
                batch.append(msg)
                size += cost
            if overflow:
                await self.client.release(overflow)
                break
        return batch

    async def _process(self, batch: list[QueueMessage]) -> None:
        m = self.mapping
        payload = sqs_event(batch, m.event_source_arn, self._region)
        # The batch continues the trace its first traced message was sent in.
        trace = next((q.attributes["AWSTraceHeader"] for q in batch
                      if "AWSTraceHeader" in q.attributes), None)  # fmt: skip
        if self.recursion is not None:
            trace, stop = self.recursion.step(m.function_name, trace)
            if stop:
                # Not handed over, not deleted: visible again after the visibility timeout,
                # until the queue's redrive policy moves them to its dead-letter queue.
                self._report(m.uuid, "PROBLEM: Function invocation stopped: recursive loop")
                return
        try:
            # SQS is the one source mappings read: a messaging system's (pubsub).
            with continued(trace), triggered(PUBSUB):
                result = await self._invoke(
                    m.function_name, m.qualifier, payload, str(uuid.uuid4())
                )
        except TooManyRequests:
            # The messages stay invisible until their visibility timeout: back off.
            self._report(m.uuid, "PROBLEM: Function call throttled")
            await asyncio.sleep(1.0)
            return
        except ResourceNotFound:
            self._report(m.uuid, "PROBLEM: Function not found")
            await asyncio.sleep(5.0)
            return
        counts = self.counts
        counts.batches += 1
        counts.records += len(batch)
        if result.function_error:
            counts.failed += 1
            self._report(m.uuid, "PROBLEM: Function call failed")
            return
        done = batch
        if m.report_batch_item_failures:
            failed = failed_message_ids(result.payload, {x.message_id for x in batch})
            if failed is None:
                self._report(m.uuid, "PROBLEM: Invalid batchItemFailures in the response")
                return
            if m.fifo:
                failed = held_back_in_groups(batch, failed)
            done = [x for x in batch if x.message_id not in failed]
        if done:
            await self.client.delete([x.receipt_handle for x in done])
        self._report(m.uuid, "OK")


class MappingManager:
    """Keeps one :class:`MappingPoller` per enabled mapping and moves states along."""

    def __init__(
        self,
        store: MappingStore,
        client_for: Callable[[str], QueueClient],
        invoke: Invoke,
        region: str,
    ) -> None:
        self.store = store
        self._client_for = client_for
        self._invoke = invoke
        self._region = region
        self.recursion: RecursionGuard | None = None  # given to each poller
        self.pollers: dict[str, MappingPoller] = {}
        self.counts: dict[str, BatchCounts] = {}  # mapping uuid → its batches (GET /metrics)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def changed(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for p in list(self.pollers.values()):
            await p.stop()
        self.pollers.clear()

    def _report(self, uuid_: str, result: str) -> None:
        m = self.store.mappings.get(uuid_)
        if m is not None and m.last_result != result:
            self.store.mappings[uuid_] = replace(m, last_result=result)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("event source mapping reconcile failed")
            await wait_event(self._wake, 30.0)

    async def _stop(self, uuid_: str) -> None:
        poller = self.pollers.pop(uuid_, None)
        if poller is not None:
            await poller.stop()

    async def reconcile(self) -> None:
        for m in list(self.store.mappings.values()):
            if m.state == "Deleting":
                await self._stop(m.uuid)
                self.store.delete(m.uuid)
                self.counts.pop(m.uuid, None)
                continue
            running = self.pollers.get(m.uuid)
            if m.state in ("Creating", "Updating", "Enabling", "Disabling") or (
                running is not None and running.mapping.settings() != m.settings()
            ):
                await self._stop(m.uuid)
                running = None
            if m.enabled and running is None:
                try:
                    client = self._client_for(m.event_source_arn)
                except Exception as exc:
                    log.warning("mapping %s: cannot reach %s: %s", m.uuid, m.event_source_arn, exc)
                    self.store.save(replace(m, state="Enabled", last_result=f"PROBLEM: {exc}"))
                    continue
                m = replace(m, state="Enabled")
                counts = self.counts.setdefault(
                    m.uuid, BatchCounts(m.function_name, m.event_source_arn)
                )
                poller = MappingPoller(m, client, self._invoke, self._region, self._report, counts)
                poller.recursion = self.recursion
                self.pollers[m.uuid] = poller
                self.store.save(m)
                poller.start()
            elif not m.enabled and m.state != "Disabled":
                self.store.save(replace(m, state="Disabled"))
