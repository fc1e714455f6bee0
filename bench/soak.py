"""Soak: hundreds of thousands of warm invokes, the server's RSS every 10,000.

Memory is not a timing, so this runs on any machine, loaded or not: the figure that
matters is whether ``lamina serve``'s resident set levels off after warm-up or keeps
growing with every invoke (a per-invoke leak of ~185 bytes once showed as 51 → 87 MB
over 200,000 invokes). The function is the Rust hello example (``provided.al2023``),
whose runtime keeps one keep-alive connection to its Runtime API, the path where such a
leak lives; the client is one raw keep-alive connection to the Lambda API.

    python -m bench.soak                      # 200,000 invokes, RSS every 10,000
    python -m bench.soak --invokes 1000000 --json soak.json
    python -m bench.soak --log-flood 400      # a function prints 400 MB: peak RSS growth
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from bench.functions import WARM_FUNCTIONS, zip_files
from bench.rawhttp import RawConnection, render_request
from bench.server import LaminaServer, invoke_path


@dataclass(frozen=True, slots=True)
class Sample:
    invokes: int
    rss_kib: int
    elapsed_s: float


@dataclass(slots=True)
class SoakResult:
    invokes: int
    samples: list[Sample] = field(default_factory=list)

    def growth_after_warmup_kib(self) -> int:
        """RSS growth from the second sample (warm-up done) to the last."""
        if len(self.samples) < 3:
            return 0
        return self.samples[-1].rss_kib - self.samples[1].rss_kib

    def bytes_per_invoke_after_warmup(self) -> float:
        if len(self.samples) < 3:
            return 0.0
        span = self.samples[-1].invokes - self.samples[1].invokes
        return self.growth_after_warmup_kib() * 1024 / span if span else 0.0


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """The process's resident set (``VmRSS``) or its peak (``VmHWM``) in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


FLOOD = """import sys
def handler(event, context):
    block = ("x" * 99 + "\\n") * 10000  # 1 MB of 100-byte lines
    for _ in range(event["mb"]):
        sys.stdout.write(block)
    sys.stdout.flush()
    return event["mb"]
"""


def log_flood(server: LaminaServer, megabytes: int) -> tuple[int, int, float]:
    """One invoke printing ``megabytes`` MB of log lines: (RSS before, peak RSS, seconds).

    The peak is ``VmHWM`` after resetting it (``/proc/<pid>/clear_refs``), so a burst that
    was freed again still counts.
    """
    pid = server.pid
    assert pid is not None
    api = server.api()
    code = zip_files({"app.py": FLOOD})
    api.create_function("flood", code, "python3.12", "app.handler", memory_mb=256,
                        extra={"Timeout": 900})  # fmt: skip
    api.invoke("flood", json.dumps({"mb": 1}).encode())  # cold start outside the measure
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")
    before = rss_kib(pid)
    started = time.monotonic()
    answer = api.invoke("flood", json.dumps({"mb": megabytes}).encode())
    elapsed = time.monotonic() - started
    api.close()
    if answer.status != 200 or answer.function_error:
        raise RuntimeError(f"flood invoke: {answer.status} {answer.payload[:200]!r}")
    return before, rss_kib(pid, "VmHWM"), elapsed


def soak(
    server: LaminaServer, invokes: int, every: int, say: Callable[[str], None] = print
) -> SoakResult:
    rust = next(f for f in WARM_FUNCTIONS if f.key == "rust")
    api = server.api()
    name = "soak-rust"
    # 512 MB: the example's own RSS grows ~170 bytes an invoke (it sets _X_AMZN_TRACE_ID
    # with setenv, and glibc keeps every old value), so at 128 MB it is OOM-killed near
    # 900,000 invokes; this bench is about the server's memory, not the function's.
    api.create_function(name, rust.code(), rust.runtime, rust.handler, memory_mb=512)
    api.close()
    pid = server.pid
    assert pid is not None
    request = render_request("POST", invoke_path(name), b"{}")
    result = SoakResult(invokes)
    started = time.monotonic()
    with RawConnection(server.host, server.port) as conn:
        conn.send_raw(request)  # the cold start, before the first sample
        result.samples.append(Sample(0, rss_kib(pid), 0.0))
        for i in range(1, invokes + 1):
            answer = conn.send_raw(request)
            if answer.status != 200 or answer.header("X-Amz-Function-Error"):
                raise RuntimeError(f"invoke {i}: {answer.status} {answer.body[:200]!r}")
            if i % every == 0:
                sample = Sample(i, rss_kib(pid), round(time.monotonic() - started, 1))
                result.samples.append(sample)
                say(f"{sample.invokes:>9,} invokes  RSS {sample.rss_kib / 1024:7.1f} MiB  "
                        f"({sample.elapsed_s:.0f} s)")  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--invokes", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--json", help="write the samples to this file")
    parser.add_argument("--log-flood", type=int, metavar="MB", help="measure a log flood instead")
    args = parser.parse_args(argv)
    if args.log_flood:
        with LaminaServer() as server:
            before, peak, elapsed = log_flood(server, args.log_flood)
        print(
            f"{args.log_flood} MB of log lines in {elapsed:.1f} s: server RSS {before / 1024:.1f} "
            f"MiB, peak {peak / 1024:.1f} MiB ({(peak - before) / 1024:+.1f} MiB)"
        )
        return 0
    with LaminaServer() as server:
        result = soak(server, args.invokes, args.every)
        warnings = server.warnings()
    growth = result.growth_after_warmup_kib()
    print(
        f"RSS after warm-up ({result.samples[1].invokes:,} invokes) → end: "
        f"{growth / 1024:+.1f} MiB, {result.bytes_per_invoke_after_warmup():.1f} bytes/invoke"
    )
    for line in warnings[-10:]:
        print("server:", line, file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"invokes": result.invokes, "samples": [asdict(s) for s in result.samples]},
                      fh, indent=1)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
