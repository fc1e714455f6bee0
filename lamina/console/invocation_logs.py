"""One invocation's log lines, picked from its function's recent log events (pure).

An environment runs one invocation at a time and writes its lines to its own stream, so
an invocation's lines are those of its stream from ``START RequestId: <id>`` to
``REPORT RequestId: <id>`` (an invocation that ends its environment may have no REPORT
yet: its lines run to the stream's next START or end).
"""

from __future__ import annotations

from collections.abc import Iterable

from lamina.logs.store import LogEvent

MAX_LINES = 200


def lines_of(events: Iterable[LogEvent], request_id: str) -> list[str]:
    """The invocation's lines (at most :data:`MAX_LINES`, the last ones), or [] if its
    START is not among ``events``."""
    start, report = f"START RequestId: {request_id} ", f"REPORT RequestId: {request_id}\t"
    stream: str | None = None
    found: list[str] = []
    for event in events:
        message = event.message
        if stream is None:
            if message.startswith(start):
                stream = event.stream
                found.append(message)
            continue
        if event.stream != stream:
            continue
        if message.startswith("START RequestId: "):
            break  # the environment's next invocation: this one's REPORT is not written
        found.append(message)
        if message.startswith(report):
            break
    return found[-MAX_LINES:]
