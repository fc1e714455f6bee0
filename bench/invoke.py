"""``python -m bench.invoke``: warm invoke latency and throughput, then cold starts.

Starts one Lamina server (``lamina serve --port 0`` in a temporary data directory),
measures, prints a Markdown report to stdout (progress goes to stderr) and, with
``--write docs/benchmarks.md``, rewrites that document's results section.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.cold import measure_cold, measure_forked
from bench.docfile import write_results
from bench.floor import spawn_exit_ms
from bench.functions import EXAMPLES, WARM_FUNCTIONS, missing_examples
from bench.machine import describe_machine
from bench.peers import measure_peers
from bench.report import Results, render
from bench.report_more import MoreResults, render_more
from bench.scale import measure_scale
from bench.server import LaminaServer
from bench.warm import WarmPlan, measure_warm


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.invoke", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a ~30 s run with shorter phases")
    p.add_argument("--cold-count", type=int, default=None, help="cold starts per function")
    p.add_argument("--cold-memory", type=int, nargs="+", default=[128, 1769], metavar="MB",
                   help="memory sizes for cold starts (default: 128 1769)")  # fmt: skip
    p.add_argument("--skip-warm", action="store_true", help="only measure cold starts")
    p.add_argument("--skip-cold", action="store_true", help="only measure warm invokes")
    p.add_argument("--isolation", choices=("auto", "process", "none"), default=None,
                   help="passed to lamina serve (default: its own choice, auto)")  # fmt: skip
    p.add_argument(
        "--peers",
        nargs="*",
        default=["ministack", "serverless-offline", "cargo-lambda"],
        help="peers to run beside Lamina (install: bash bench/install-peers.sh)",
    )
    p.add_argument(
        "--scale",
        type=int,
        default=200,
        metavar="N",
        help="invokes released at once for scale-out and density (0: skip)",
    )
    p.add_argument("--skip-forked", action="store_true", help="skip the zygote cold starts")
    p.add_argument("--write", type=Path, default=None, metavar="DOC",
                   help="rewrite the results section of this Markdown file")  # fmt: skip
    return p.parse_args(argv)


def rust_bootstrap() -> str:
    """The hello-rust ``bootstrap``, unpacked once into build/ for the fork/exec floor."""
    import zipfile

    target = EXAMPLES.parent / "bench" / "bootstrap"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(EXAMPLES / "hello-rust.zip") as zf:
            target.write_bytes(zf.read("bootstrap"))
        target.chmod(0o755)
    return str(target)


def command_line(argv: list[str]) -> str:
    """The command that reproduces this run, as one would type it in the repository."""
    return " ".join([".venv/bin/python", "-m", "bench.invoke", *map(shlex.quote, argv)])


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    args = parse_args(args_list)
    missing = missing_examples()
    if missing:
        _say("missing example zips: " + ", ".join(map(str, missing)))
        _say("build them first: bash scripts/build-examples.sh (or make examples)")
        return 2
    plan = WarmPlan.quick() if args.quick else WarmPlan()
    cold_count = args.cold_count or (3 if args.quick else 10)
    with LaminaServer(isolation=args.isolation) as server:
        api = server.api()
        try:
            health = api.health()
            unreserved = api.unreserved_concurrency()
        finally:
            api.close()
        needed = max(plan.concurrencies)
        if unreserved < needed:
            _say(f"the account allows {unreserved} concurrent environments; need {needed}")
            return 2
        _say(f"Lamina at {server.endpoint} ({server.event_loop}, sandbox {health['sandbox']})")
        warm = [] if args.skip_warm else measure_warm(server, plan, _say)
        cold = (
            []
            if args.skip_cold
            else measure_cold(server, cold_count, _say, tuple(args.cold_memory))
        )
        more = MoreResults(
            forked=[] if args.skip_forked else measure_forked(server, cold_count, _say),
            spawn_floor_ms=[] if args.skip_cold else spawn_exit_ms(rust_bootstrap(), 50),
            scale=(
                measure_scale(server, args.scale, _say, WARM_FUNCTIONS[0].code())
                if args.scale
                else []
            ),
        )
        warnings = server.warnings()
    peers = measure_peers(plan, _say, tuple(args.peers), 3 if args.quick else 5)
    more = MoreResults(more.forked, peers, more.scale, more.spawn_floor_ms)
    for line in warnings:
        _say(f"server: {line}")
    machine = describe_machine(str(health["sandbox"]), server.event_loop)
    results = Results(
        machine, command_line(args_list), plan, warm, cold, cold_count, warnings=warnings
    )
    text = render(results) + "\n" + render_more(more, warm) + "\n"
    print(text)
    if args.write is not None:
        write_results(args.write, text)
        _say(f"wrote the results section of {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
