"""Times a warm invoke's critical path on one machine, segment by segment, write by write.

Put this folder on the server's ``PYTHONPATH`` and set ``LAMINA_CRIT_TIMING`` to a file:
``lamina serve`` then stamps ``time.perf_counter()`` at each step of the chain client →
server → runtime → server → client and rewrites the file every 1,000 invokes with each
segment's median and first quartile (µs; the first 500 invokes left out). Meaningful at
one connection (``python -m bench.fixed --connections 1``), where nothing else is in flight:

- ``1 request read -> event written``: the API's parse, the loop's turn to the invoke's
  task, the scheduler, the event's write (or, when the runtime has not asked yet, the
  wait for its ``GET /next``: see the ``deliveries`` line);
- ``2 event written -> runtime's answer read``: two wake-ups (runtime, server) and the
  runtime's own work;
- ``3 runtime's answer read -> 202 written`` and ``4 ... -> client's answer written``;
- ``5 client's answer written -> next request read``: the client's turn (a wake-up, its
  loop, a wake-up of the server);
- ``write: <kind>``: how long each ``transport.write`` took (a loopback send runs the
  receiver's side of TCP and wakes it: most of a write's cost);
- ``deliveries``: how many events found the runtime's ``/next`` parked, and how many
  waited for it (the runtime asked after the caller's next request had arrived).

Nothing happens without the variable. (Only one ``sitecustomize`` is imported: use one
hook folder at a time.)

    LAMINA_CRIT_TIMING=/tmp/crit.txt PYTHONPATH=$PWD:$PWD/bench/crit_hook \\
        python -m bench.fixed --connections 1 --invokes 4000
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bench.hook_samples import Samples

_CLIENT = b"POST /2015-03-31/functions/"
_ANSWER = b"POST /2018-06-01/runtime/invocation/"
_ACCEPTED = b"HTTP/1.1 202"


class _Stamps(Samples):
    """The instants of the invoke in progress and every segment's durations (µs)."""

    def __init__(self, out: str) -> None:
        super().__init__(out, width=52)
        self.client: object = None  # the connection of the request in progress
        self.request_at = 0.0
        self.event_at = 0.0
        self.answer_read_at = 0.0
        self.client_answer_at = 0.0
        self.event_due = False  # a request arrived whose event is not written yet
        self.parked = 0
        self.waited = 0

    def add(self, name: str, value_us: float) -> None:
        self.add_us(name, value_us)

    def since(self, name: str, at: float, now: float) -> None:
        if at:
            self.add_us(name, (now - at) * 1e6)

    def extra_lines(self) -> list[str]:
        return [f"deliveries: /next parked {self.parked}, waited for /next {self.waited}"]


def _install(out: str) -> _Stamps:
    from lamina.runtime_api import channel
    from lamina.wire import server

    s = _Stamps(out)
    http: Any = server.HttpConnection
    received, write = http.data_received, http._write

    def timed_received(self: object, data: bytes) -> None:
        now = time.perf_counter()
        if data.startswith(_CLIENT):
            s.since("5 client's answer written -> next request read", s.client_answer_at, now)
            s.request_at, s.client, s.event_due = now, self, True
        elif data.startswith(_ANSWER):
            s.since("2 event written -> runtime's answer read", s.event_at, now)
            s.event_at, s.answer_read_at = 0.0, now
        received(self, data)

    def timed_write(self: object, data: bytes) -> None:
        start = time.perf_counter()
        write(self, data)
        now = time.perf_counter()
        if self is s.client:
            s.add("write: client's answer", (now - start) * 1e6)
            s.since("4 runtime's answer read -> client's answer written", s.answer_read_at, now)
            s.since("total: request read -> client's answer written", s.request_at, now)
            s.client_answer_at, s.answer_read_at, s.request_at = now, 0.0, 0.0
            s.invoke_done()
        elif s.event_due:  # (a held 202 may lead the event's write: it is the event's)
            s.add("write: event to the runtime", (now - start) * 1e6)
            s.since("1 request read -> event written", s.request_at, now)
            s.event_at, s.event_due = now, False
        elif data.startswith(_ACCEPTED) and s.answer_read_at:
            s.add("write: 202 to the runtime", (now - start) * 1e6)
            s.since("3 runtime's answer read -> 202 written", s.answer_read_at, now)

    http.data_received, http._write = timed_received, timed_write

    chan: Any = channel.RuntimeChannel
    deliver = chan.deliver

    def counted_deliver(self: Any, delivery: Any) -> None:
        if self._parked is None:
            s.waited += 1
        else:
            s.parked += 1
        deliver(self, delivery)

    chan.deliver = counted_deliver
    return s


def _main() -> None:
    out = os.environ.get("LAMINA_CRIT_TIMING")
    argv = " ".join(getattr(sys, "orig_argv", sys.argv))
    if out and "lamina.cli.main" in argv and "serve" in argv:
        _install(out)


_main()
