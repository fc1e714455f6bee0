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

Run: ``PYTHONPATH=. .venv/bin/python -m bench.workflows`` (``--json`` for raw numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from typing import Any

from bench.rawhttp import RawConnection
from bench.server import ROOT, LaminaServer

ROLE = "arn:aws:iam::123456789012:role/bench"
CHAIN = 100


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


class Sfn:
    """The Step Functions calls the bench makes, over one keep-alive connection."""

    def __init__(self, server: LaminaServer) -> None:
        self.conn = RawConnection(server.host, server.port)

    def call(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.conn.request(
            "POST", "/", json.dumps(body).encode(),
            {"X-Amz-Target": f"AWSStepFunctions.{op}",
             "Content-Type": "application/x-amz-json-1.0"},
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


def standard_throughput(server: LaminaServer, executions: int, clients: int) -> dict[str, float]:
    setup = Sfn(server)
    arn = create(setup, "std-chain", chain(CHAIN), "STANDARD")
    barrier = threading.Barrier(clients + 1)

    def starter(k: int) -> None:
        sfn = Sfn(server)
        barrier.wait()
        for i in range(k, executions, clients):
            sfn.call("StartExecution", {"stateMachineArn": arn, "name": f"e{i}"})
        sfn.close()

    threads = [threading.Thread(target=starter, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    while True:
        page = setup.call("ListExecutions", {"stateMachineArn": arn, "statusFilter": "RUNNING",
                                             "maxResults": 1})  # fmt: skip
        if not page["executions"]:
            break
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    failed = setup.call("ListExecutions", {"stateMachineArn": arn, "statusFilter": "FAILED"})
    setup.close()
    assert not failed["executions"], failed
    return {"executions": executions, "seconds": elapsed,
            "transitions_per_s": executions * CHAIN / elapsed}  # fmt: skip


def express_latency(server: LaminaServer, runs: int) -> dict[str, float]:
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


def express_throughput(server: LaminaServer, clients: int, per_client: int) -> dict[str, float]:
    setup = Sfn(server)
    arn = create(setup, "exp-chain-many", chain(CHAIN), "EXPRESS")
    setup.close()
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        sfn = Sfn(server)
        barrier.wait()
        for _ in range(per_client):
            sfn.call("StartSyncExecution", {"stateMachineArn": arn})
        sfn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"clients": clients, "executions": clients * per_client,
            "transitions_per_s": clients * per_client * CHAIN / elapsed}  # fmt: skip


def task_overhead(server: LaminaServer, runs: int) -> dict[str, float]:
    api = server.api()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with LaminaServer() as server:
        results = {
            "standard": standard_throughput(server, args.executions, args.clients),
            "express_sync": express_latency(server, args.runs),
            "express_parallel": express_throughput(server, args.clients, args.runs // args.clients),
            "lambda_task": task_overhead(server, args.runs),
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    s, e, p, t = (
        results[k] for k in ("standard", "express_sync", "express_parallel", "lambda_task")
    )
    print(
        f"Standard (durable), {CHAIN} Pass states x {s['executions']:.0f} executions: "
        f"{s['transitions_per_s']:,.0f} transitions/s"
    )
    print(
        f"Express sync, one client: p50 {e['p50_ms']:.2f} ms, p90 {e['p90_ms']:.2f} ms per "
        f"{CHAIN}-state execution ({e['transitions_per_s_one_client']:,.0f} transitions/s)"
    )
    print(f"Express sync, {p['clients']:.0f} clients: {p['transitions_per_s']:,.0f} transitions/s")
    print(f"Lambda Task: invoke p50 {t['invoke_p50_ms']:.2f} ms, one-Task execution p50 "
          f"{t['one_task_sync_p50_ms']:.2f} ms, one-Pass execution p50 "
          f"{t['one_pass_sync_p50_ms']:.2f} ms → a Task execution costs {t['task_added_ms']:.2f} "
          "ms more than the invoke alone")  # fmt: skip


if __name__ == "__main__":
    main()
