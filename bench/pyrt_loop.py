"""The Python runtime's own work per warm invoke, without the kernel: CPU per loop turn.

Loads a ``bootstrap.py`` (this checkout's, or any other given by path) into this process and
runs its invoke loop against an in-memory socket that answers every ``GET /next`` with one
fixed event and every ``POST`` with Lamina's ``202``: what is left is the runtime's Python
(parse the answer, context, JSON, post) for a no-op handler. CPU time, best of five runs,
so it holds up on a busy machine better than wall-clock figures do.

    python -m bench.pyrt_loop                                   # this checkout
    python -m bench.pyrt_loop --bootstrap /other/checkout/lamina/runtimes/python/bootstrap.py

Run it under the interpreter the function uses (``/usr/bin/python3.11 -m bench.pyrt_loop``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = ROOT / "lamina" / "runtimes" / "python" / "bootstrap.py"

EVENT = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Lambda-Runtime-Aws-Request-Id: 8f9c2a36-1d2e-4f5a-9b1c-0a2b3c4d5e6f\r\n"
    b"Lambda-Runtime-Deadline-Ms: 1764950000000\r\n"
    b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:fn\r\n"
    b"Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)
ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
    b'Content-Length: 15\r\n\r\n{"status":"OK"}'
)


class MemorySocket:
    """Answers each request written to it, in order, from memory."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        if data.startswith(b"POST"):
            self.pending.append(ACCEPTED)
        if b"GET /2018-06-01/runtime/invocation/next " in data:  # alone or pipelined
            self.pending.append(EVENT)

    def recv(self, size: int) -> bytes:
        return self.pending.pop(0) if self.pending else b""

    def close(self) -> None:
        self.pending.clear()


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("pyrt_bootstrap", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_turn_us(path: Path, turns: int) -> float:
    """Best of five: CPU microseconds per invoke-loop turn of the bootstrap at ``path``."""
    os.environ.update(
        AWS_LAMBDA_FUNCTION_NAME="fn",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/fn",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/01/01/[$LATEST]0123",
    )
    bs = load(path)
    client = bs.RuntimeApiClient("127.0.0.1:9001")
    client._sock = MemorySocket()
    if hasattr(bs, "read_context_env"):  # what serve() does as the loop starts
        bs._context_env = bs.read_context_env()
    pipelined = hasattr(client, "next_invocation")

    def handler(event: object, context: object) -> object:
        return {}

    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(turns):
            if pipelined:
                _, headers, body = client.next_invocation()
            else:  # a bootstrap from before the pipelined loop
                _, headers, body = client.request("GET", "/invocation/next")
            bs.handle(client, handler, body, headers)
        best = min(best, (time.process_time() - t0) / turns)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.pyrt_loop", description=__doc__.split("\n")[0]
    )
    p.add_argument("--bootstrap", type=Path, default=BOOTSTRAP)
    p.add_argument("--turns", type=int, default=100_000)
    args = p.parse_args(argv)
    if args.turns < 1:
        p.error("--turns must be at least 1")
    print(f"{args.bootstrap}: {per_turn_us(args.bootstrap, args.turns):.2f} us CPU per invoke")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
