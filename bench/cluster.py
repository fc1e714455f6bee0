"""``python -m bench.cluster``: Lamina on a Ray cluster vs one machine, in one run.

Measures (docs/cluster.md, "Benchmarks"; the issue's targets in brackets):

1. warm invoke p50/p99 through the control plane to a worker node vs the single-machine
   server, same client, same no-op function [cluster p50 ≤ single p50 + 0.15 ms], and the
   CPU each server process spent per warm invoke meanwhile (utime + stime from /proc: a
   reading that holds up on a loaded machine better than latency does);
2. throughput at concurrency 8 (eight functions, one connection each) with 1 and 3 nodes;
3. cold-start time, single machine vs cluster (placement, code shipped to the node,
   the cold start there), and Init Duration from REPORT to tell them apart;
4. node loss: a function answering from a worker node, that node killed, the time until
   it answers from another node and the invokes that failed meanwhile [≤ 3 s with tuned
   health checks].

Both deployments run at once and are measured in turns (latency in alternating rounds),
so a machine loaded by other work weighs on both alike. All nodes run on this machine
(``ray.cluster_utils.Cluster`` on 127.0.0.1), so three
nodes share its cores: the throughput line shows the cost of the extra hop and the
spread, not more hardware. Prints Markdown to stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster_rig import ClusterRig
from bench.functions import zip_files
from bench.load import LoadResult, Target, run_load
from bench.machine import describe_machine
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.stats import median, percentile
from lamina.client.lambda_api import LambdaClient

NOOP = zip_files({"app.py": "def handler(event, context):\n    return {}\n"})
MEMORY_MB = 256


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Plan:
    latency_s: float = 5.0
    throughput_s: float = 5.0
    warm_invokes: int = 200
    cold_count: int = 5
    functions: int = 8

    @classmethod
    def quick(cls) -> Plan:
        return cls(4.0, 1.5, 50, 3, 8)


@dataclass(slots=True)
class Side:
    """One deployment's figures (single machine, or the cluster)."""

    label: str
    latency: LoadResult | None = None
    throughput: dict[int, float] = field(default_factory=dict)  # nodes -> invokes/s
    cold_wall_ms: list[float] = field(default_factory=list)
    cold_init_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Process label -> CPU seconds it spent during the latency rounds (see cpu_us).
    cpu_s: dict[str, float] = field(default_factory=dict)

    def cpu_us(self) -> dict[str, float]:
        """CPU per warm invoke (µs) of each server process during the latency rounds."""
        ok = self.latency.ok if self.latency is not None else 0
        return {label: s / ok * 1e6 for label, s in self.cpu_s.items()} if ok else {}


@dataclass(slots=True)
class NodeLoss:
    killed: str = ""
    answered_after_s: float | None = None
    failed: int = 0
    answered_by: str = ""
    rejoined_after_s: float | None = None
    note: str = ""


# -- phases ----------------------------------------------------------------------------
def deploy(api: LambdaClient, name: str) -> None:
    api.create_function(name, NOOP, "python3.12", "app.handler", memory_mb=MEMORY_MB,
                        timeout_s=TIMEOUT_S)  # fmt: skip


def warm_up(server: LaminaServer, names: list[str], invokes: int) -> None:
    conn = RawConnection(server.host, server.port)
    try:
        for name in names:
            request = render_request("POST", invoke_path(name), b"{}")
            for _ in range(invokes):
                conn.send_raw(request)
    finally:
        conn.close()


def latency(server: LaminaServer, name: str, plan: Plan) -> LoadResult:
    target = Target(server.host, server.port, render_request("POST", invoke_path(name), b"{}"))
    return run_load(target, 1, plan.latency_s, processes=1)


def spread_throughput(server: LaminaServer, names: list[str], seconds: float) -> float:
    """Invokes/s with one closed-loop connection per function, all at once."""
    results: list[LoadResult] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        target = Target(server.host, server.port, render_request("POST", invoke_path(name), b"{}"))
        result = run_load(target, 1, seconds, processes=1)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max((r.elapsed_s for r in results), default=0.0)
    return sum(r.ok for r in results) / elapsed if elapsed else 0.0


def cold_starts(server: LaminaServer, side: Side, prefix: str, count: int) -> None:
    api = server.api()
    try:
        for i in range(count):
            name = f"{prefix}-cold-{i}"
            deploy(api, name)
            answer = api.invoke(name, b"{}")
            if not answer.ok or answer.report is None or answer.report.init_ms is None:
                side.errors.append(f"cold {name}: {answer.status} {answer.log_tail[-200:]!r}")
                continue
            side.cold_wall_ms.append(answer.wall_ms)
            side.cold_init_ms.append(answer.report.init_ms)
    finally:
        api.close()


def prepare(server: LaminaServer, names: list[str], plan: Plan) -> None:
    api = server.api()
    try:
        for name in names:
            deploy(api, name)
    finally:
        api.close()
    warm_up(server, names, plan.warm_invokes)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(node_id: str) -> int | None:
    """The pid of the Lamina worker serving ``node_id`` (its command line names it)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lamina.cluster.worker" in cmd and node_id.encode() in cmd:
            return int(proc.name)
    return None


def alternate_latency(
    pairs: list[tuple[Side, LaminaServer, str]],
    plan: Plan,
    pids: dict[str, dict[str, int]],
    rounds: int = 4,
) -> None:
    """Latency of each side in alternating rounds, so both see the same machine load;
    ``pids`` (side label -> process label -> pid): whose CPU to count meanwhile."""
    for _ in range(rounds):
        for side, server, name in pairs:
            watched = pids.get(side.label, {})
            before = {label: cpu_seconds(pid) for label, pid in watched.items()}
            one = latency(server, name, Plan(plan.latency_s / rounds))
            for label, pid in watched.items():
                spent = cpu_seconds(pid) - before[label]
                side.cpu_s[label] = side.cpu_s.get(label, 0.0) + spent
            if side.latency is None:
                side.latency = one
            else:
                side.latency.ok += one.ok
                side.latency.latencies_ms.extend(one.latencies_ms)


def measure(plan: Plan, isolation: str | None) -> tuple[Side, Side, NodeLoss]:
    """Both deployments running at once, measured in turns (the machine's load hits both)."""
    single, cluster = Side("one machine"), Side("cluster")
    loss = NodeLoss()
    names = [f"fn-{i}" for i in range(plan.functions)]
    _say("starting the single-machine server, a 1-node Ray cluster and its control plane")
    with LaminaServer(isolation=isolation) as one, ClusterRig(1, isolation) as rig:
        rig.wait_for_nodes(1)
        many = rig.server
        prepare(one, names, plan)
        prepare(many, names, plan)
        single.throughput[1] = spread_throughput(one, names, plan.throughput_s)
        cluster.throughput[1] = spread_throughput(many, names, plan.throughput_s)
        _say("cluster: adding two nodes")
        rig.add_node()
        rig.add_node()
        rig.wait_for_nodes(3)
        # Home nodes are hashed over the live nodes: new functions spread over all three.
        names3 = [f"fn3-{i}" for i in range(plan.functions)]
        prepare(many, names3, plan)
        homes = {name: node_of(many, name) for name in names3}
        _say(f"cluster: {len(set(homes.values()))} nodes serve the {len(names3)} functions")
        cluster.throughput[3] = spread_throughput(many, names3, plan.throughput_s)
        remote = [n for n, node in homes.items() if node and not rig.is_head(node)]
        _say("warm latency, in alternating rounds")
        target = (remote or names3)[0]
        pids = {
            single.label: {"server": one.pid or 0},
            cluster.label: {"control plane": many.pid or 0},
        }
        wpid = worker_pid(homes.get(target, ""))
        if wpid is not None:
            pids[cluster.label]["worker"] = wpid
        alternate_latency([(single, one, names[0]), (cluster, many, target)], plan, pids)
        _say("cold starts")
        for i in range(plan.cold_count):
            cold_starts(one, single, f"single-{i}", 1)
            cold_starts(many, cluster, f"cluster-{i}", 1)
        if remote:
            loss = node_loss(rig, remote[0], homes[remote[0]])
        else:
            loss.note = "no function was placed off the head node; nothing killed"
        single.errors += notable(one.warnings())
        cluster.errors += notable(many.warnings())
    return single, cluster, loss


def notable(warnings: list[str]) -> list[str]:
    """The server's warnings worth a line in the report (not dev mode's reminder)."""
    return [w for w in warnings if "SigV4: no LAMINA_ACCESS_KEYS" not in w][-5:]


def node_of(server: LaminaServer, name: str) -> str:
    """The node that answers ``name`` (the ``X-Lamina-Node`` header)."""
    conn = RawConnection(server.host, server.port)
    try:
        answer = conn.send_raw(render_request("POST", invoke_path(name), b"{}"))
    finally:
        conn.close()
    return answer.header("x-lamina-node") or ""


def node_loss(rig: ClusterRig, name: str, node_id: str) -> NodeLoss:
    """Invoke ``name`` in a loop, kill its node, time until it answers from another."""
    loss = NodeLoss(killed=node_id[:12])
    server = rig.server
    request = render_request("POST", invoke_path(name), b"{}")
    killed_at = 0.0
    stop = time.monotonic() + 60
    conn = RawConnection(server.host, server.port)
    _say(f"node loss: killing {node_id[:12]}, which serves {name}")
    killer = threading.Thread(target=rig.kill, args=(node_id,))
    try:
        for _ in range(3):
            conn.send_raw(request)  # answering from the node before it dies
        killed_at = time.monotonic()
        killer.start()
        while time.monotonic() < stop:
            answer = conn.send_raw(request)
            by = answer.header("x-lamina-node") or ""
            if answer.status == 200 and by and by != node_id:
                loss.answered_after_s = time.monotonic() - killed_at
                loss.answered_by = by[:12]
                break
            if answer.status != 200 or answer.header("x-amz-function-error"):
                loss.failed += 1
                conn.close()
                conn = RawConnection(server.host, server.port)
    finally:
        conn.close()
        killer.join()
    _say("node loss: a node rejoins")
    started = time.monotonic()
    rig.add_node()
    try:
        rig.wait_for_nodes(3)
        loss.rejoined_after_s = time.monotonic() - started
    except RuntimeError as exc:
        loss.note = str(exc)[:200]
    return loss


# -- report ----------------------------------------------------------------------------
def _ms(samples: list[float], p: float) -> str:
    return f"{percentile(samples, p):.3f}" if samples else "—"


def outside(side: Side) -> list[float]:
    return [w - i for w, i in zip(side.cold_wall_ms, side.cold_init_ms, strict=True)]


def render(single: Side, cluster: Side, loss: NodeLoss, command: str) -> str:
    machine = describe_machine("process", "")
    lines = [
        "## Cluster (bench/cluster.py)",
        "",
        f"`{command}` on {machine.cpu_model} ({machine.cpus} CPUs), {machine.date}, "
        f"load average {machine.load_average:.1f}; all nodes on this one machine.",
        "",
        "| | one machine | cluster | difference |",
        "|---|---|---|---|",
    ]
    s = single.latency.latencies_ms if single.latency else []
    c = cluster.latency.latencies_ms if cluster.latency else []
    for p in (50, 99):
        diff = f"{percentile(c, p) - percentile(s, p):+.3f}" if s and c else "—"
        lines.append(f"| warm invoke p{p} (ms) | {_ms(s, p)} | {_ms(c, p)} | {diff} |")
    s_cpu, c_cpu = single.cpu_us(), cluster.cpu_us()
    if s_cpu and c_cpu:
        parts = " + ".join(f"{v:.0f} ({k})" for k, v in c_cpu.items())
        total = sum(c_cpu.values())
        lines.append(
            f"| CPU per warm invoke (µs, server processes) | {sum(s_cpu.values()):.0f} | "
            f"{parts} = {total:.0f} | {total - sum(s_cpu.values()):+.0f} |"
        )
    lines.append(
        f"| c=8 throughput, 1 node (invokes/s) | {single.throughput.get(1, 0):.0f} | "
        f"{cluster.throughput.get(1, 0):.0f} | |"
    )
    lines.append(
        f"| c=8 throughput, 3 nodes (invokes/s) | | {cluster.throughput.get(3, 0):.0f} | |"
    )
    for label, a, b in (
        ("cold start, client wall (ms, median)", single.cold_wall_ms, cluster.cold_wall_ms),
        ("cold start, Init Duration (ms, median)", single.cold_init_ms, cluster.cold_init_ms),
        # Placement, the code's trip to the node and the hops: what is not the INIT itself.
        ("cold start outside INIT: wall - Init (ms, median)", outside(single), outside(cluster)),
    ):
        diff = f"{median(b) - median(a):+.1f}" if a and b else "—"
        am = f"{median(a):.1f}" if a else "—"
        bm = f"{median(b):.1f}" if b else "—"
        lines.append(f"| {label} | {am} | {bm} | {diff} |")
    lines += ["", "Node loss:", ""]
    if loss.answered_after_s is not None:
        lines.append(
            f"- killed node {loss.killed}: the function answered from {loss.answered_by} "
            f"after **{loss.answered_after_s:.2f} s**; {loss.failed} invoke(s) failed meanwhile."
        )
    else:
        lines.append(f"- no answer from another node within 60 s. {loss.note}")
    if loss.rejoined_after_s is not None:
        lines.append(f"- a new node was attached {loss.rejoined_after_s:.1f} s after it started.")
    for side in (single, cluster):
        for error in side.errors:
            lines.append(f"- {side.label}: {error}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short phases (~2 min in all)")
    p.add_argument("--isolation", choices=("auto", "process", "none"), default=None)
    args = p.parse_args(args_list)
    plan = Plan.quick() if args.quick else Plan()
    single, cluster, loss = measure(plan, args.isolation)
    command = " ".join([".venv/bin/python", "-m", "bench.cluster", *args_list])
    print(render(single, cluster, loss, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
