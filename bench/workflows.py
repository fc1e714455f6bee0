"""Workflows: state transitions per second and the cost of a Lambda Task.

Against a real ``lamina serve`` (a subprocess, fresh data directory), over loopback with
the Step Functions JSON 1.0 API:

* **Standard, durable**: a chain of 100 Pass states; ``--executions`` started from
  ``--clients`` connections, timed from the first StartExecution to the last execution's
  SUCCEEDED (every transition committed to SQLite before the next state runs).
* **Express, in memory**: the same chain through StartSyncExecution, one at a time
  (latency per execution) and from ``--clients`` connections at once (throughput).
* **Lambda Task overhead**: a one-Task Express machine calling a warm Rust function,
  StartSyncExecution p50 minus the direct Invoke p50 of the same function.

The same Standard and Express measurements run against MiniStack (in memory, not
durable) when ``bench/install-peers.sh`` has installed it (or ``--ministack PATH``).

Run: ``PYTHONPATH=. .venv/bin/python -m bench.workflows`` (``--json`` for raw numbers).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import MINISTACK, free_port, running
from bench.rawhttp import RawConnection
from bench.server import ROOT, LaminaServer
from bench.together import release_together

ROLE = "arn:aws:iam::123456789012:role/bench"
CHAIN = 100


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a Step Functions API listens, and headers it needs (MiniStack routes a
    request to a service by its SigV4 credential scope, so it gets a scope)."""

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = ()


MINISTACK_SCOPE = (
    ("Authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/states/aws4_request, "
     "SignedHeaders=host, Signature=0"),
)  # fmt: skip


class Sfn:
    """The Step Functions calls the bench makes, over one keep-alive connection."""

    def __init__(self, server: Endpoint) -> None:
        self.conn = RawConnection(server.host, server.port)
        self.headers = {"Content-Type": "application/x-amz-json-1.0", **dict(server.headers)}

    def call(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.conn.request(
            "POST", "/", json.dumps(body).encode(),
            {"X-Amz-Target": f"AWSStepFunctions.{op}", **self.headers},
        )  # fmt: skip
        if answer.status != 200:
            raise RuntimeError(f"{op} → {answer.status}: {answer.body[:300]!r}")
        result: dict[str, Any] = json.loads(answer.body)
        return result

    def close(self) -> None:
        self.conn.close()


def create(sfn: Sfn, name: str, definition: dict[str, Any], kind: str) -> str:
    out = sfn.call("CreateStateMachine", {"name": name, "definition": json.dumps(definition),
                                          "roleArn": ROLE, "type": kind})  # fmt: skip
    return str(out["stateMachineArn"])


def standard_throughput(server: Endpoint, executions: int, clients: int) -> dict[str, float]:
    setup = Sfn(server)
    arn = create(setup, "std-chain", chain(CHAIN), "STANDARD")

    def starter(k: int, go: Callable[[], object]) -> None:
        sfn = Sfn(server)
        go()
        for i in range(k, executions, clients):
            sfn.call("StartExecution", {"stateMachineArn": arn, "name": f"e{i}"})
        sfn.close()

    start = release_together([functools.partial(starter, k) for k in range(clients)])
    while True:  # done when every execution is SUCCEEDED (FAILED ones stop the bench)
        page = setup.call("ListExecutions", {"stateMachineArn": arn, "statusFilter": "SUCCEEDED",
                                             "maxResults": 1000})  # fmt: skip
        if len(page["executions"]) >= executions:
            break
        failed = setup.call("ListExecutions", {"stateMachineArn": arn, "statusFilter": "FAILED"})
        assert not failed["executions"], failed
        time.sleep(0.02)  # polling costs the server too: 20 ms is 1 % of a 2 s run
    elapsed = time.perf_counter() - start
    setup.close()
    return {"executions": executions, "seconds": elapsed,
            "transitions_per_s": executions * CHAIN / elapsed}  # fmt: skip


def express_latency(server: Endpoint, runs: int) -> dict[str, float]:
    sfn = Sfn(server)
    arn = create(sfn, "exp-chain", chain(CHAIN), "EXPRESS")
    for _ in range(20):
        sfn.call("StartSyncExecution", {"stateMachineArn": arn})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = sfn.call("StartSyncExecution", {"stateMachineArn": arn})
        times.append((time.perf_counter() - t) * 1000)
        assert out["status"] == "SUCCEEDED", out
    sfn.close()
    times.sort()
    p50 = statistics.median(times)
    return {"p50_ms": p50, "p90_ms": times[int(len(times) * 0.9)],
            "transitions_per_s_one_client": CHAIN / (p50 / 1000)}  # fmt: skip


def express_throughput(server: Endpoint, clients: int, per_client: int) -> dict[str, float]:
    setup = Sfn(server)
    arn = create(setup, "exp-chain-many", chain(CHAIN), "EXPRESS")
    setup.close()

    def worker(go: Callable[[], object]) -> None:
        sfn = Sfn(server)
        go()
        for _ in range(per_client):
            sfn.call("StartSyncExecution", {"stateMachineArn": arn})
        sfn.close()

    start = release_together([worker] * clients)
    elapsed = time.perf_counter() - start
    return {"clients": clients, "executions": clients * per_client,
            "transitions_per_s": clients * per_client * CHAIN / elapsed}  # fmt: skip


def task_overhead(lamina: LaminaServer, runs: int) -> dict[str, float]:
    api = lamina.api()
    server = Endpoint(lamina.host, lamina.port)
    code = (ROOT / "build" / "examples" / "hello-rust.zip").read_bytes()
    api.create_function("bench-rust", code, "provided.al2023", "bootstrap")
    sfn = Sfn(server)
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "bench-rust", "Payload.$": "$"}, "End": True}}}  # fmt: skip
    arn = create(sfn, "one-task", definition, "EXPRESS")
    empty = create(
        sfn, "no-task", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "EXPRESS"
    )

    def p50(call: Any) -> float:
        for _ in range(20):
            call()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    invoke = p50(lambda: api.invoke("bench-rust", b'{"name": "b"}'))
    pass_only = p50(lambda: sfn.call("StartSyncExecution", {"stateMachineArn": empty}))
    task = p50(
        lambda: sfn.call("StartSyncExecution", {"stateMachineArn": arn, "input": '{"name": "b"}'})
    )
    sfn.close()
    api.close()
    return {"invoke_p50_ms": invoke, "one_pass_sync_p50_ms": pass_only,
            "one_task_sync_p50_ms": task, "task_added_ms": task - invoke}  # fmt: skip


def measure(server: Endpoint, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    return {
        "standard": standard_throughput(server, args.executions, args.clients),
        "express_sync": express_latency(server, args.runs),
        "express_parallel": express_throughput(server, args.clients, args.runs // args.clients),
    }


def measure_ministack(args: argparse.Namespace, ministack: Path) -> dict[str, Any]:
    """The same workflows on MiniStack (in memory, not durable), if it is installed."""
    if not ministack.exists():
        return {"skipped": f"{ministack} not found: run bash bench/install-peers.sh"}
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running([str(ministack)], port, Path(tmp), {"GATEWAY_PORT": str(port)}),
    ):
        try:
            return measure(Endpoint("127.0.0.1", port, MINISTACK_SCOPE), args)
        except Exception as exc:  # a peer's failure is a result to report, not a crash
            return {"skipped": f"MiniStack failed: {exc}"}


def report(name: str, r: dict[str, Any]) -> None:
    if "skipped" in r:
        print(f"{name}: skipped ({r['skipped']})")
        return
    s, e, p = r["standard"], r["express_sync"], r["express_parallel"]
    print(
        f"{name}: Standard, {CHAIN} Pass states x {s['executions']:.0f} executions: "
        f"{s['transitions_per_s']:,.0f} transitions/s"
    )
    print(
        f"{name}: Express sync, one client: p50 {e['p50_ms']:.2f} ms, p90 {e['p90_ms']:.2f} ms "
        f"per {CHAIN}-state execution ({e['transitions_per_s_one_client']:,.0f} transitions/s)"
    )
    print(f"{name}: Express sync, {p['clients']:.0f} clients: "
          f"{p['transitions_per_s']:,.0f} transitions/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--ministack",
        type=Path,
        default=MINISTACK,
        help="MiniStack's executable (default: bench/install-peers.sh's)",
    )
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with LaminaServer() as server:
        results["lamina"] = measure(Endpoint(server.host, server.port), args)
        results["lamina"]["lambda_task"] = task_overhead(server, args.runs)
    if not args.no_peers:
        results["ministack"] = measure_ministack(args, args.ministack)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report("Lamina", results["lamina"])
    t = results["lamina"]["lambda_task"]
    print(f"Lamina: Lambda Task: invoke p50 {t['invoke_p50_ms']:.2f} ms, one-Task execution p50 "
          f"{t['one_task_sync_p50_ms']:.2f} ms, one-Pass execution p50 "
          f"{t['one_pass_sync_p50_ms']:.2f} ms → a Task execution costs {t['task_added_ms']:.2f} "
          "ms more than the invoke alone")  # fmt: skip
    if "ministack" in results:
        report("MiniStack", results["ministack"])


if __name__ == "__main__":
    main()
