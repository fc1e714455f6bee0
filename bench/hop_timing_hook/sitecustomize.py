"""Times the critical path of a warm invoke in each server process, one machine or a cluster.

Put this folder on ``PYTHONPATH`` and set ``LAMINA_HOP_TIMING`` to a file prefix: every
``lamina serve`` (one machine, or a cluster's control plane) and every cluster worker
(``python -m lamina.cluster.worker``, which inherits the variables through Ray) then
stamps ``time.perf_counter()`` where a warm invoke enters and leaves it, and rewrites
``<prefix>-<role>-<pid>.txt`` every 1,000 invokes with each segment's median and quartile
(µs; the first 500 left out). Workers are killed with their node, so nothing waits for an
exit. The segments (meaningful at one connection, where nothing else is in flight):

- one machine: the client's request arriving → the event written to the runtime; the
  runtime's answer arriving → the client's answer written;
- the control plane: the request arriving → the ``invoke`` frame written; the ``answer``
  frame arriving → the client's answer written;
- a worker: the ``invoke`` frame arriving → the event written; the runtime's answer
  arriving → the ``answer`` frame built (it is written right after);
- every process: how often the previous invoke's after-invoke step ran after the next
  request had arrived, and its median: its reading (on the critical path: it must run
  before the next event), and the whole step where it still runs before the event (the
  Telemetry API in use, or a ``main`` older than the split).

Each segment includes the loop's turn between the callbacks (a task's first step, a future's
wake-up) and any time the process waited for a CPU. Nothing happens without the variable.
(Only one ``sitecustomize`` is imported: use one hook folder at a time.)

    LAMINA_HOP_TIMING=/tmp/hop PYTHONPATH=$PWD:$PWD/bench/hop_timing_hook \\
        python -m bench.cluster --quick
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bench.hook_samples import Samples

_CLIENT = b"POST /2015-03-31/functions/"
_RUNTIME = b"POST /2018-06-01/runtime/invocation/"


class _Stamps(Samples):
    def __init__(self, out: str) -> None:
        super().__init__(out, width=58)
        self.request_at = 0.0  # the client's request (or an invoke frame) arrived
        self.answer_at = 0.0  # the runtime's answer (or an answer frame) arrived
        self.client: object = None  # the connection of the request in progress

    def add(self, name: str, since: float) -> None:
        self.add_us(name, (time.perf_counter() - since) * 1e6)


def _install(prefix: str, worker: bool) -> None:
    from lamina.cluster import connection, frames
    from lamina.scheduler import environment
    from lamina.wire import server

    role = "worker" if worker else "serve"
    s = _Stamps(f"{prefix}-{role}-{os.getpid()}.txt")
    cluster_side = [False]  # this server sent an invoke frame: it is a control plane
    http: Any = server.HttpConnection
    received, write = http.data_received, http._write

    def http_received(self: object, data: bytes) -> None:
        if data.startswith(_CLIENT):
            s.request_at, s.client = time.perf_counter(), self
        elif data.startswith(_RUNTIME):
            s.answer_at = time.perf_counter()
        received(self, data)

    def http_write(self: object, data: bytes) -> None:
        if self is s.client and s.answer_at:
            label = "answer frame -> client's answer written"
            if not cluster_side[0]:
                label = "runtime's answer -> client's answer written"
            s.add(label, s.answer_at)
            s.answer_at = 0.0
            s.invoke_done()
        elif s.request_at and self is not s.client:
            s.add(f"{'invoke frame' if worker else 'request'} -> event written", s.request_at)
            s.request_at = 0.0
        write(self, data)

    http.data_received, http._write = http_received, http_write

    settle: Any = environment.Environment.settle

    def timed_settle(self: Any) -> None:
        if self.after_answer is not None and s.request_at:
            started = time.perf_counter()
            settle(self)
            s.add("previous after-invoke step, run after the request", started)
            return
        settle(self)

    # (getattr: the hook also times a `main` older than the split, which has none.)
    readings: Any = getattr(environment.Environment, "settle_readings", None)

    def timed_readings(self: Any) -> None:
        if self.after_answer is not None and s.request_at:
            started = time.perf_counter()
            readings(self)
            s.add("previous step's reading, run after the request", started)
            return
        readings(self)

    environment.Environment.settle = timed_settle  # type: ignore[method-assign]
    if readings is not None:
        environment.Environment.settle_readings = timed_readings  # type: ignore[method-assign]

    if worker:
        # The worker runs as __main__ and imported these by name: patched before it does.
        feed: Any = frames.FrameDecoder.feed
        answer_frame = frames.answer_frame

        def timed_feed(self: Any, data: bytes) -> list[frames.Frame]:
            s.request_at = time.perf_counter()
            return feed(self, data)  # type: ignore[no-any-return]

        def timed_answer(ident: int, payload: bytes, fields: dict[str, object] | None) -> bytes:
            if s.answer_at:
                s.add("runtime's answer -> answer frame built", s.answer_at)
                s.answer_at = 0.0
                s.invoke_done()
            return answer_frame(ident, payload, fields)

        frames.FrameDecoder.feed = timed_feed  # type: ignore[method-assign]
        frames.answer_frame = timed_answer
        return

    node: Any = connection.NodeConnection
    reader: Any = connection._Reader
    node_write, read = node._write, reader.data_received

    def timed_node_write(self: object, data: bytes) -> None:
        cluster_side[0] = True
        if s.request_at:
            s.add("request -> invoke frame written", s.request_at)
            s.request_at = 0.0
        node_write(self, data)

    def timed_read(self: object, data: bytes) -> None:
        s.answer_at = time.perf_counter()
        read(self, data)

    node._write, reader.data_received = timed_node_write, timed_read


def _main() -> None:
    prefix = os.environ.get("LAMINA_HOP_TIMING")
    argv = " ".join(getattr(sys, "orig_argv", sys.argv))
    worker = "lamina.cluster.worker" in argv
    if prefix and (worker or "lamina.cli.main" in argv):
        _install(prefix, worker)


_main()
