"""``python -m bench.coldstart``: Init Duration of hello functions without a zygote.

Starts one Lamina server (``lamina serve --port 0``, its own choice of isolation, which is
the ``process`` tier when run as root) and forces ``--count`` cold starts of each hello
function at 128 MB, as ``python -m bench.invoke`` does (a configuration change retires
the warm environment), and prints the p50/min/max of the REPORT's ``Init Duration``.

With ``--steps`` it prints instead where one cold start's time goes, step by step
(:mod:`bench.coldsteps`).
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.cold import measure_forked, measure_function
from bench.functions import COLD_FUNCTIONS
from bench.server import LaminaServer

DEFAULT_KEYS = ("hello-py311", "hello-node", "hello-rust")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    p.add_argument("--count", type=int, default=15, help="cold starts per function")
    p.add_argument("--memory", type=int, default=128, metavar="MB")
    p.add_argument("--functions", nargs="+", default=list(DEFAULT_KEYS),
                   choices=[f.key for f in COLD_FUNCTIONS])  # fmt: skip
    p.add_argument("--steps", action="store_true", help="the step-by-step breakdown instead")
    p.add_argument(
        "--zygote",
        action="store_true",
        help="also the same Python 3.11 function forced cold by a crash, with and without a zygote",
    )
    return p.parse_args(argv)


def _quantiles(values: list[float]) -> str:
    if not values:
        return "no cold starts"
    ordered = sorted(values)
    return (
        f"p50 {ordered[len(ordered) // 2]:7.2f} ms  min {ordered[0]:7.2f}  "
        f"max {ordered[-1]:7.2f}  (n={len(ordered)})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.steps:
        from bench.coldsteps import main as steps_main

        return steps_main(args.count)
    chosen = [f for f in COLD_FUNCTIONS if f.key in args.functions]
    with LaminaServer() as server:
        print(f"# Init Duration, {args.memory} MB, load {os.getloadavg()}")
        for fn in chosen:
            result = measure_function(server, fn, args.count, fn.runtime, _say, args.memory)
            print(f"{fn.key:<12} {fn.runtime:<16} init {_quantiles(result.init_ms)}", flush=True)
            for failure in result.failures[:3]:
                print(f"  failure: {failure}")
        if args.zygote:
            for result in measure_forked(server, args.count, _say, args.memory):
                print(f"{result.fn.key:<12} {result.interpreter:<16} {_quantiles(result.init_ms)}")
        for line in server.warnings():
            print(f"server: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
