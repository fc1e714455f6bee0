"""How long ended executions are kept, and which of their histories stay in memory.

AWS keeps a Standard execution, and its history, for 90 days after it closes: past that,
DescribeExecution and GetExecutionHistory answer ``ExecutionDoesNotExist``. Lamina does the
same on the workflows' clock (``Settings.workflow_history_days``; 0 keeps them for ever):
:meth:`Histories.sweep` deletes such executions from memory and from ``stepfunctions.db``,
at start-up and every :data:`SWEEP_INTERVAL_S`.

Within that time a server would otherwise hold every history it ever wrote. Running
executions keep theirs in memory (they append to it); of the ended ones, only the most
recently used keep theirs, up to :data:`MAX_KEPT_EVENTS` events in all. The others are
*paged out* — their history (and the cursor a redrive starts from) is read back from the
store when GetExecutionHistory, the console or RedriveExecution asks for it. At start-up
every ended execution begins paged out.

:class:`KeptHistories` decides (pure); :class:`Histories` moves the records.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

from lamina.services.stepfunctions.records import ExecutionRecord, HistoryEntry
from lamina.services.stepfunctions.store import WorkflowStore

# Events of ended executions' histories held in memory at most (~700 bytes each as Python
# objects for small states' inputs and outputs): the least recently used are paged out.
MAX_KEPT_EVENTS = 100_000
# How often ended executions past the retention are looked for (seconds, real time).
SWEEP_INTERVAL_S = 3600.0
DAY_S = 86_400.0


def expired(ex: ExecutionRecord, now: float, keep_s: float) -> bool:
    """Whether ``ex`` ended more than ``keep_s`` ago (``keep_s`` ≤ 0: kept for ever)."""
    return keep_s > 0 and not ex.running and ex.stopped is not None and now - ex.stopped > keep_s


class KeptHistories:
    """Which ended executions hold their history in memory: least recently used first."""

    def __init__(self, limit: int = MAX_KEPT_EVENTS) -> None:
        self.limit = limit
        self._held: OrderedDict[str, int] = OrderedDict()  # arn → its events
        self.events = 0

    def hold(self, arn: str, events: int) -> list[str]:
        """``arn``'s history (``events`` long) is in memory and was just used; returns the
        executions to page out now, oldest use first (never ``arn`` itself)."""
        self.events += events - self._held.pop(arn, 0)
        self._held[arn] = events
        out = []
        while self.events > self.limit and len(self._held) > 1:
            oldest = next(iter(self._held))
            self.events -= self._held.pop(oldest)
            out.append(oldest)
        return out

    def drop(self, arn: str) -> None:
        """``arn`` is no longer held (paged out, running again, or deleted)."""
        self.events -= self._held.pop(arn, 0)

    def __contains__(self, arn: str) -> bool:
        return arn in self._held


class Histories:
    """Pages ended executions' histories out of memory and back, and deletes the expired."""

    def __init__(
        self,
        store: WorkflowStore,
        runs: dict[str, ExecutionRecord],
        forget: Callable[[list[ExecutionRecord]], None],
        keep_days: float,
        limit: int = MAX_KEPT_EVENTS,
    ) -> None:
        self.store = store
        self.runs = runs  # every execution remembered, by ARN (the operations' index)
        self._forget = forget  # takes expired executions out of the operations' indexes
        self.keep_s = keep_days * DAY_S
        self.kept = KeptHistories(limit)

    def ended(self, ex: ExecutionRecord) -> None:
        """``ex`` just ended with its history in memory (all of it committed)."""
        if not ex.express:
            self._page_out(self.kept.hold(ex.arn, len(ex.history)))

    def running(self, ex: ExecutionRecord) -> None:
        """``ex`` runs again (a redrive): its history stays in memory until it ends."""
        self.kept.drop(ex.arn)

    async def history(self, ex: ExecutionRecord) -> list[HistoryEntry]:
        """``ex``'s history, read back from the store if it was paged out."""
        if ex.paged_out:
            events, cursor = await self.store.load_history(ex.arn)
            if ex.paged_out:  # not read back meanwhile by another request
                ex.history, ex.flushed, ex.last_cursor = events, len(events), cursor
                ex.paged_out = False
        if not ex.running:
            self._page_out(self.kept.hold(ex.arn, len(ex.history)))
        return ex.history

    def _page_out(self, arns: list[str]) -> None:
        for arn in arns:
            ex = self.runs.get(arn)
            if ex is not None and not ex.running and not ex.paged_out:
                # The history is all on disk (ended executions commit it before they are
                # held); a redrive's cursor is read back with it.
                ex.cursor_stored = ex.last_cursor is not None
                ex.history, ex.last_cursor, ex.paged_out = [], None, True

    async def sweep(self, now: float) -> int:
        """Delete the executions that ended more than the retention ago; returns how many."""
        gone = [ex for ex in self.runs.values() if expired(ex, now, self.keep_s)]
        for ex in gone:
            self.kept.drop(ex.arn)
        if gone:
            self._forget(gone)
            await self.store.forget_executions([ex.arn for ex in gone])
        return len(gone)

    async def sweeping(
        self, now: Callable[[], float], interval_s: float = SWEEP_INTERVAL_S
    ) -> None:
        """:meth:`sweep` every ``interval_s`` until cancelled (the service's close)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.sweep(now())
