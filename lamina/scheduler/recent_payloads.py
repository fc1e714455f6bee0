"""The last few invocations' request and response payloads per function, in memory.

The console's function page shows them next to the REPORT lines (joined by request id).
Bounded three ways: ``per_function`` invocations per function, ``max_bytes`` of each
payload (the rest is dropped and the entry says so), and ``functions`` functions (the
least recently invoked forgotten first). So at most
``functions * per_function * 2 * max_bytes`` bytes of payload are held.

The scheduler adds to it on every invoke, so adding is one slice (a no-op for payloads
under the limit: slicing a short ``bytes`` returns the same object) and one deque append;
decoding and pretty-printing happen only when a page asks (:func:`shown`).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from typing import NamedTuple

PER_FUNCTION = 20
MAX_BYTES = 4 * 1024
FUNCTIONS = 200


class Payloads(NamedTuple):
    """One invocation's payloads, each cut to the ring's ``max_bytes`` (a tuple: one is
    made per invoke, and a frozen dataclass's ``__init__`` costs ~1.5 µs more)."""

    request_id: str
    time: float  # epoch seconds, when the invoke returned
    request: bytes
    request_truncated: bool
    response: bytes
    response_truncated: bool
    function_error: str | None


class RecentPayloads:
    """A ring of :class:`Payloads` per function (not thread-safe: the event loop's)."""

    def __init__(
        self,
        per_function: int = PER_FUNCTION,
        max_bytes: int = MAX_BYTES,
        functions: int = FUNCTIONS,
    ) -> None:
        self.per_function = per_function
        self.max_bytes = max_bytes
        self.functions = functions
        self._rings: OrderedDict[str, deque[Payloads]] = OrderedDict()

    def add(
        self,
        function: str,
        request_id: str,
        request: bytes,
        response: bytes,
        function_error: str | None = None,
    ) -> None:
        limit = self.max_bytes
        entry = Payloads(
            request_id,
            time.time(),
            request[:limit],
            len(request) > limit,
            response[:limit],
            len(response) > limit,
            function_error,
        )
        ring = self._rings.get(function)
        if ring is None:
            ring = self._rings[function] = deque(maxlen=self.per_function)
            if len(self._rings) > self.functions:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(function)
        ring.append(entry)

    def of(self, function: str) -> list[Payloads]:
        """The function's kept invocations, newest first."""
        return list(reversed(self._rings.get(function, ())))

    def __len__(self) -> int:
        return len(self._rings)


def shown(payload: bytes, truncated: bool) -> str:
    """A payload as text for a page: JSON pretty-printed when it parses, else the text
    (undecodable bytes replaced); a cut payload says so (it cannot parse as JSON)."""
    text = payload.decode(errors="replace")
    if not truncated:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text + "\n… (truncated)"
