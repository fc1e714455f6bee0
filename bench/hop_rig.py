"""``python -m bench.hop_rig [ROUNDS] [SECONDS]``: the hop alone, quicker than bench.cluster.

A 1-node Ray cluster on 127.0.0.1 with its control plane (``bench.cluster_rig``) and the
single-machine server run at once, each with one warm no-op function; both are driven at
c=1 in alternating rounds (ROUNDS of SECONDS each, default 4 rounds of 3 s). Prints, per side,
the warm p50 and the CPU each server process spent per warm invoke (utime + stime from
/proc), then the p50 difference and the hop's CPU (cluster minus one machine), with the load
average at the start and the end. No node loss, no cold starts, no c=8 phase: with
``LAMINA_HOP_TIMING`` and ``bench/hop_timing_hook`` on ``PYTHONPATH`` the segment files
hold c=1 invokes only (docs/cluster.md, "Benchmarks").

The node's worker runs on the head node here (bench.cluster's runs on another node): the
hop's code is the same, the Ray daemons beside it are fewer.

Run it from the tree being measured (``cd <tree> && PYTHONPATH=<tree> python -m
bench.hop_rig``): the node's worker inherits this process's working directory and runs
``python -m lamina.cluster.worker`` there, which puts that directory first on its
``sys.path``, ahead of ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys

from bench.cluster import Plan, Side, alternate_latency, node_of, prepare, worker_pid
from bench.cluster_rig import ClusterRig
from bench.server import LaminaServer
from bench.stats import percentile

NAME = "fn-0"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[0]) if args else 4
    seconds = float(args[1]) if len(args) > 1 else 3.0
    print(f"load average at the start: {_load()}", flush=True)
    single, cluster = Side("one machine"), Side("cluster")
    with LaminaServer() as one, ClusterRig(1) as rig:
        rig.wait_for_nodes(1)
        many = rig.server
        plan = Plan(latency_s=seconds * rounds, warm_invokes=300)
        prepare(one, [NAME], plan)
        prepare(many, [NAME], plan)
        pids = {
            single.label: {"server": one.pid or 0},
            cluster.label: {"control plane": many.pid or 0},
        }
        wpid = worker_pid(node_of(many, NAME))
        if wpid is not None:
            pids[cluster.label]["worker"] = wpid
        pairs = [(single, one, NAME), (cluster, many, NAME)]
        alternate_latency(pairs, plan, pids, rounds=rounds)
    print(f"load average at the end: {_load()}")
    cpu: dict[str, float] = {}
    p50: dict[str, float] = {}
    for side in (single, cluster):
        if side.latency is None or not side.latency.ok:
            print(f"{side.label}: no invokes answered")
            return 1
        n = side.latency.ok
        per = {label: spent / n * 1e6 for label, spent in side.cpu_s.items()}
        cpu[side.label] = sum(per.values())
        p50[side.label] = percentile(side.latency.latencies_ms, 50)
        parts = ", ".join(f"{label} {us:.1f}" for label, us in per.items())
        print(f"{side.label}: {n} invokes, p50 {p50[side.label]:.3f} ms, CPU µs/invoke: {parts}")
    print(
        f"p50 difference {p50['cluster'] - p50['one machine']:+.3f} ms, "
        f"CPU of the hop {cpu['cluster'] - cpu['one machine']:+.1f} µs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
