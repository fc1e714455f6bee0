"""Recursive loop detection: stop a function invoked in a loop through its event sources.

A function that writes to the queue (or bucket, or topic) that invokes it loops for ever,
and bills for ever. Lambda counts, in the trace header's ``Lineage``, how many times each
function has been invoked in one chain of requests by a supported source, and once a
function's count passes 16 it stops the invocation (unless the function's
``RecursiveLoop`` is ``Allow``): an asynchronous event goes to the function's on-failure
destination or dead-letter queue, an SQS message is not handed over (the queue's own
redrive policy moves it to its dead-letter queue), and the ``RecursiveInvocationsDropped``
metric counts it.

Counted here, as Lambda counts: asynchronous events (``Event`` invokes, S3 notifications;
EventBridge rules' targets too, which Lambda does not count) and SQS event source
mappings. The count travels in :func:`lamina.tracing.lineage_step`'s field of the header
the function is handed; its SDK hands it on with every call. A synchronous ``Invoke``
passes the field on without counting.

:func:`stops` decides (pure); :class:`RecursionGuard` is what the sources call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.tracing import LOOP_LIMIT, function_hash, lineage_step

log = logging.getLogger("lamina.events")


def stops(count: int, allowed: bool) -> bool:
    """Whether the ``count``-th counted invocation of a function in one chain is stopped."""
    return count > LOOP_LIMIT and not allowed


@dataclass
class RecursionGuard:
    """Counts a function's invocation in its chain and says whether to stop it."""

    allowed: Callable[[str], bool]  # RecursiveLoop is Allow for this function name
    function_arn: Callable[[str], str]  # a function name → its unqualified ARN
    on_drop: Callable[[str], None] = lambda name: None  # RecursiveInvocationsDropped
    dropped: dict[str, int] = field(default_factory=dict)  # by function, since start
    # Each function's Lineage hash, made once (a name's ARN never changes).
    _hashes: dict[str, str] = field(default_factory=dict)

    def step(self, function: str, header: str | None) -> tuple[str | None, bool]:
        """(the trace header to invoke ``function`` with, whether to stop instead)."""
        key = self._hashes.get(function)
        if key is None:
            key = self._hashes[function] = function_hash(self.function_arn(function))
        continued, count = lineage_step(header, key)
        if not stops(count, self.allowed(function)):
            return continued, False
        seen = self.dropped.get(function, 0)
        self.dropped[function] = seen + 1
        if seen == 0:  # once per function: a loop stopped is stopped many times
            log.warning(
                "%s: stopped an invocation in a recursive loop (invoked more than %d times in "
                "one chain of requests); PutFunctionRecursionConfig RecursiveLoop=Allow lets "
                "it run",
                function,
                LOOP_LIMIT,
            )
        self.on_drop(function)
        return continued, True
