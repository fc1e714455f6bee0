"""The X-Ray daemon's cost per datagram: what a flooding function can take of the loop.

Each kind of datagram is handed to ``XrayDaemon.received`` in a loop (its rate limits
lifted, so every one is parsed) and the mean time per datagram printed: an SDK
subsegment (checked, kept, made an OTLP span), one naming a trace nobody handed out,
60 KB of garbage, 30 000 nested ``[`` (refused by counting), and 4 000 (parsed: the JSON parser's worst
case, with 4 000 flat objects). Each kind's share of a core is its cost times what the
all-sockets buckets let through a second (``TOTAL_RATE`` datagrams, ``TOTAL_BYTES``
bytes, ``TOTAL_CONTAINERS`` objects and arrays). CPU-bound: say the
load average with the figures.

    python -m bench.xray_daemon
"""

from __future__ import annotations

import json
import os
import time

from lamina.xray.daemon import TOTAL_BYTES, TOTAL_CONTAINERS, TOTAL_RATE, Bucket, XrayDaemon
from lamina.xray.documents import MAX_CONTAINERS, containers
from lamina.xray.traces import TraceStore

TRACE = "1-6b151031-e7b9ed85fbe14103ac015b76"
PARENT = "ac015b766c04743d"
HEAD = b'{"format":"json","version":1}\n'


def subsegment(i: int, trace: str = TRACE) -> bytes:
    body = {
        "id": f"{i:016x}", "name": "lambda", "start_time": 1.8e9, "end_time": 1.8e9 + 0.1,
        "parent_id": PARENT, "trace_id": trace, "type": "subsegment", "namespace": "aws",
        "http": {"response": {"status": 200}},
        "aws": {"operation": "ListFunctions", "region": "us-east-1", "request_id": "r" * 36},
    }  # fmt: skip
    return HEAD + json.dumps(body).encode()


def main() -> None:
    huge = 1e15
    daemon = XrayDaemon(TraceStore(trace_bytes=1 << 40, max_bytes=1 << 42), lambda f, s: None)
    daemon._sockets[5] = Bucket(huge, huge, time.monotonic, huge)
    daemon._functions["fn"] = Bucket(huge, huge, time.monotonic)
    daemon._total = Bucket(huge, huge, time.monotonic, huge)
    daemon.expect("fn", (5,), 1e6, f"Root={TRACE};Parent={PARENT};Sampled=1")
    nested = HEAD + b"[" * 4000  # just under the count refused before parsing
    flat = HEAD + b"[" + b"{}," * 4000 + b"{}]"  # as many objects, side by side
    cases = {
        f"SDK subsegment ({len(subsegment(1))} B)": [subsegment(i) for i in range(20000)],
        "foreign trace": [subsegment(1, "1-00000000-" + "0" * 23 + "1")] * 20000,
        "garbage, 60 KB": [b"\xff" * 60000] * 20000,
        "30 000 nested '['": [HEAD + b"[" * 30000] * 20000,
        f"nested '[' ({len(nested)} B)": [nested] * 2000,
        f"4 000 objects ({len(flat)} B)": [flat] * 2000,
    }
    worst = 0.0
    for name, datagrams in cases.items():
        t0 = time.perf_counter()
        for data in datagrams:
            daemon.received(data, 5)
        per = (time.perf_counter() - t0) / len(datagrams)
        # A flood of these gets at most this many a second past the all-sockets bucket.
        charged = min(containers(datagrams[0]), MAX_CONTAINERS + 1) or 1
        admitted = min(TOTAL_RATE, TOTAL_BYTES / len(datagrams[0]), TOTAL_CONTAINERS / charged)
        worst = max(worst, per * admitted)
        print(f"{name:28} {per * 1e6:8.1f} µs per datagram, {per * admitted:6.1%} of a core")
    print(f"a flood at the all-sockets bound: at most {worst:.0%} of a core")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
