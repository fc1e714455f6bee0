"""Work that waits until the answers are out: the after-invoke step off the critical path.

A synchronous invoke's caller needs the runtime's answer and nothing else. The meter
reading, ``END`` and ``REPORT``, the ledger's record, the Telemetry API's report and the
console's payload ring can follow it, so the driver queues them here and they run once
per loop iteration, from one ``call_soon``: the task step that finished the invoke writes
the answer first (:mod:`lamina.wire` writes a coroutine handler's answer in that step),
then the loop comes here. At concurrency the invokes finished in one iteration share
the one callback.

One rule keeps every reading and line right: an environment's pending step
(:meth:`Environment.settle <lamina.scheduler.environment.Environment.settle>`) runs before
anything else touches the environment — before it is frozen or destroyed, when its process
ends — and before its next event at least its reading does (the runtime's lines drained,
Max Memory Used read), the rest following once that event is written to the runtime and
before its ``START`` (:class:`lamina.scheduler.report.AfterInvoke`). So Max Memory Used
is read before the next event runs and ``START``/``END``/``REPORT`` keep their order
whichever comes first, the queue or the next event. The driver queues the reading here
and the rest one iteration later (``Scheduler._read_now``), so a next event that arrived
meanwhile goes before the rest. Invokes whose caller reads the step's results with the answer (``LogType=Tail``,
the record) run it before answering, as do the ones that end their environment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("lamina.scheduler")


class AfterAnswers:
    """A queue of calls run together at the loop's next iteration (the event loop's only)."""

    __slots__ = ("_due", "_loop")

    def __init__(self) -> None:
        self._due: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        # Kept: asyncio.get_running_loop() is a getpid() system call in Python 3.11.
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, work: Callable[..., object], *args: object) -> None:
        """Call ``work(*args)`` once this loop iteration's answers are written."""
        if not self._due:
            loop = self._loop
            if loop is None or loop.is_closed():
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.run)
        self._due.append((work, args))

    def run(self) -> None:
        """Run everything queued (also at shutdown); a failing call is logged, the rest run."""
        while self._due:
            due, self._due = self._due, []
            for work, args in due:
                try:
                    work(*args)
                except Exception:
                    log.exception("work after an answer failed: %r", work)

    def __len__(self) -> int:
        return len(self._due)
