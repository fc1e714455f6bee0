"""The cost tools' commands: ``lamina cost``, ``tune``, ``bench coldstart`` and ``compare``.

:func:`register` adds them to the ``lamina`` parser; every command is a client of the
HTTP API through :class:`lamina.client.http.Client` (``cost`` may also read the ledger
file, see :mod:`lamina.tools.cost_source`). Results go to stdout (``--json`` for
machines), progress bars to stderr, charts to ``--png`` and ``--html``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamina.billing.prices import PriceTable, load_prices
from lamina.billing.projection import RequestRate, ServerPrice, parse_rate, parse_server_price
from lamina.client.http import Client
from lamina.client.lambda_api import LambdaClient, payload_bytes
from lamina.config import load_settings
from lamina.errors import InvalidParameterValue
from lamina.terminal import dump_json
from lamina.tools import reports
from lamina.tools.coldstart import DEFAULT_RUNTIMES, resolve_runtimes, run_coldstart
from lamina.tools.coldstart_report import coldstart_dict, write_coldstart
from lamina.tools.compare import run_compare
from lamina.tools.compare_report import compare_dict, write_compare
from lamina.tools.cost_report import (
    CostQuery,
    add_provisioned,
    add_snapstart,
    from_ledger,
    report_rows,
)
from lamina.tools.cost_source import open_source, parse_when
from lamina.tools.cost_text import write_cost
from lamina.tools.html_report import Section
from lamina.tools.paired_deploy import prepare_pair
from lamina.tools.payloads import WeightedPayload, read_payload_arg, read_weighted_file
from lamina.tools.tune_report import tune_dict, write_tune
from lamina.tools.tuner import TunePlan, tune
from lamina.tools.tuning import DEFAULT_SIZES, Strategy
from lamina.tools.workflow_cost import workflow_bills
from lamina.workflows.cost import load_workflow_prices

EndpointOf = Callable[[argparse.Namespace], str]


def default_examples_dir() -> Path:
    """``build/examples`` of this checkout, else of the working directory."""
    beside = Path(__file__).resolve().parents[2] / "build" / "examples"
    return beside if beside.is_dir() else Path.cwd() / "build" / "examples"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError("memory sizes are MB numbers like 128,512,1769") from None


def _rate(text: str) -> RequestRate:
    try:
        return parse_rate(text)
    except InvalidParameterValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _server(text: str) -> ServerPrice:
    try:
        return parse_server_price(text)
    except InvalidParameterValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _prices(args: argparse.Namespace) -> PriceTable:
    return load_prices(Path(args.prices) if args.prices else None)


def _write_reports(
    args: argparse.Namespace,
    title: str,
    chart_list: list[reports.Chart],
    sections: list[Section],
) -> None:
    png = Path(args.png) if args.png else None
    html_path = Path(args.html) if args.html else None
    for path in reports.write_outputs(title, chart_list, sections, png, html_path):
        print(f"wrote {path}", file=sys.stderr)


def _wants_charts(args: argparse.Namespace) -> bool:
    return bool(args.png or args.html)


def _plan(args: argparse.Namespace, function: str, apply: bool = False) -> TunePlan:
    if args.payloads:
        payloads = tuple(read_weighted_file(Path(args.payloads)))
    else:
        payloads = (WeightedPayload(read_payload_arg(args.payload)),)
    return TunePlan(
        function=function,
        sizes=args.memory,
        invocations=args.invocations,
        parallel=args.parallel,
        payloads=payloads,
        discard=args.discard,
        cold=args.cold,
        strategy=Strategy(args.strategy),
        weight=args.weight,
        apply=apply,
        sleep_ms=args.sleep_between,
    )


# -- commands --------------------------------------------------------------------------------


def cmd_cost(args: argparse.Namespace, endpoint_of: EndpointOf) -> int:
    prices = _prices(args)
    explicit = args.data_dir is not None
    data_dir = Path(args.data_dir) if explicit else load_settings(os.environ).data_dir
    client = Client(endpoint_of(args)) if not args.offline else None
    query = CostQuery(
        function=args.function,
        by=args.by,
        since=parse_when(args.since) if args.since else None,
        until=parse_when(args.until) if args.until else None,
        architecture=args.arch,
        free_tier=args.free_tier,
        rate=args.rate,
        server=args.vs_server,
    )
    span = (query.function, query.since, query.until)
    source = open_source(client, data_dir, explicit, query.by, span)
    report = from_ledger(source.views, query, prices)
    report.workflows = workflow_bills(source.workflows, load_workflow_prices())
    add_snapstart(report, source.views, source.snapstart, prices, time.time())
    add_provisioned(report, source.provisioned, prices)
    if source.note:
        report.notes.append(source.note)
    if args.json:
        dump_json(report_rows(report, prices))
    else:
        write_cost(report, prices, sys.stdout)
    if _wants_charts(args):
        chart_list = reports.cost_charts(report, prices)
        _write_reports(
            args, "Lamina: cost", chart_list, reports.cost_sections(report, prices, chart_list)
        )
    return 0


def cmd_tune(args: argparse.Namespace, endpoint_of: EndpointOf) -> int:
    prices = _prices(args)
    api = LambdaClient(Client(endpoint_of(args)))
    result = tune(api, _plan(args, args.function, apply=args.apply), prices, progress=args.progress)
    if args.json:
        dump_json(tune_dict(result, prices, args.rate))
    else:
        write_tune(result, prices, sys.stdout, args.rate, args.vs_server)
    if _wants_charts(args):
        chart_list = reports.tune_charts(result, prices, args.rate, args.vs_server)
        _write_reports(
            args,
            f"Lamina: power tuning of {args.function}",
            chart_list,
            reports.tune_sections(result, prices, args.rate, chart_list),
        )
    return 0 if result.restore.verified and result.recommended is not None else 1


def cmd_compare(args: argparse.Namespace, endpoint_of: EndpointOf) -> int:
    prices = _prices(args)
    api = LambdaClient(Client(endpoint_of(args)))
    examples = Path(args.examples) if args.examples else default_examples_dir()
    names = (args.function_a, args.function_b)
    prepared = prepare_pair(api, names, examples, deploy=args.deploy_examples)
    for name in prepared.deployed:
        print(f"deployed {name} from {examples}", file=sys.stderr)
    plan = _plan(args, args.function_a)
    if prepared.workload is not None and args.payload is None and args.payloads is None:
        # Both are one paired example: measure them with its own event, not with {}.
        event = prepared.workload.event()
        plan = dataclasses.replace(plan, payloads=(WeightedPayload(payload_bytes(event)),))
        print(f"payload: the {prepared.workload.key} example's own event", file=sys.stderr)
    comparison = run_compare(
        api,
        plan,
        args.function_b,
        prices,
        args.rate,
        progress=args.progress,
    )
    if args.json:
        dump_json(compare_dict(comparison, prices))
    else:
        write_compare(comparison, sys.stdout, args.vs_server, prices)
    if _wants_charts(args):
        chart_list = reports.compare_charts(comparison, prices, args.rate, args.vs_server)
        title = f"Lamina: {args.function_a} vs {args.function_b}"
        _write_reports(
            args, title, chart_list, reports.compare_sections(comparison, prices, chart_list)
        )
    restored = comparison.a.result.restore.verified and comparison.b.result.restore.verified
    return 0 if restored and comparison.cost_ratio is not None else 1


def cmd_bench_coldstart(args: argparse.Namespace, endpoint_of: EndpointOf) -> int:
    api = LambdaClient(Client(endpoint_of(args)))
    specs = resolve_runtimes([k.strip() for k in args.runtimes.split(",") if k.strip()])
    bench = run_coldstart(
        api,
        specs,
        args.memory,
        args.count,
        Path(args.examples) if args.examples else default_examples_dir(),
        prefix=args.prefix,
        keep=args.keep,
        progress=args.progress,
    )
    if args.json:
        dump_json(coldstart_dict(bench))
    else:
        write_coldstart(bench, sys.stdout)
    if _wants_charts(args):
        chart_list = reports.coldstart_charts(bench)
        _write_reports(
            args, "Lamina: cold starts", chart_list, reports.coldstart_sections(bench, chart_list)
        )
    failed = any(s.failures or not s.init_ms for s in bench.series)
    return 1 if failed else 0


# -- parsers ------------------------------------------------------------------------------


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--png", metavar="FILE", help="write the chart(s) as PNG (more beside it)")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--prices", metavar="FILE", help="another price table (default: us-east-1)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: only when stderr is a terminal)",
    )


def _tuning_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory",
        type=_sizes,
        default=DEFAULT_SIZES,
        metavar="MB,MB,...",
        help="memory sizes (default: 128,256,512,1024,1536,1769,3008)",
    )
    p.add_argument("-n", "--invocations", type=int, default=10, help="invokes per size")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="invoke N at a time (default: one after another)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--payload", help="the event: JSON text or @file (default {})")
    group.add_argument(
        "--payloads", metavar="FILE", help='weighted events: [{"payload": ..., "weight": n}, ...]'
    )
    p.add_argument(
        "--discard",
        type=float,
        default=0.2,
        help="drop this fraction of the fastest and of the slowest (default 0.2)",
    )
    p.add_argument("--cold", action="store_true", help="measure only forced cold starts")
    p.add_argument(
        "--sleep-between",
        type=int,
        default=0,
        metavar="MS",
        help="pause between invokes, e.g. 100 to measure a function called now and then",
    )
    p.add_argument(
        "--strategy",
        choices=[s.value for s in Strategy],
        default="cost",
        help="what the recommendation optimises: cost, speed, or balanced (see --weight)",
    )
    p.add_argument(
        "--weight",
        type=float,
        default=0.5,
        help="balanced strategy: 0 = speed, 1 = cost (default 0.5)",
    )
    p.add_argument(
        "--vs-server",
        type=_server,
        metavar="PRICE",
        help="chart the break-even against a flat price, e.g. 40$/month",
    )


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    endpoint_of: EndpointOf,
) -> None:
    """Add the commands; ``endpoint_of(args)`` gives the server's URL."""

    def bind(
        command: Callable[[argparse.Namespace, EndpointOf], int],
    ) -> Callable[[argparse.Namespace], int]:
        return lambda args: command(args, endpoint_of)

    p = sub.add_parser(
        "cost",
        parents=[common],
        help="what functions and workflows cost, from the ledger; projections and break-even",
    )
    p.add_argument("function", nargs="?", help="one function (default: all)")
    p.add_argument(
        "--by",
        choices=["function", "version", "day", "node", "trigger", "month"],
        default="function",
        help="group the bill by (node: the cluster node that ran it; trigger: what started "
        "it, http, pubsub, datasource, timer or other; default: function)",
    )
    p.add_argument("--since", help="7d, 24h, 30min, or a UTC date/time such as 2026-05-01")
    p.add_argument("--until", help="as --since (exclusive)")
    p.add_argument(
        "--arch",
        choices=["x86_64", "arm64"],
        help="reprice at this architecture (default: as recorded)",
    )
    p.add_argument("--free-tier", action="store_true", help="apply the monthly free tier")
    p.add_argument("--rate", type=_rate, help="project a month at this rate: 10/s, 2M/month")
    p.add_argument(
        "--vs-server",
        type=_server,
        metavar="PRICE",
        help="break-even against a flat price: 40$/month, 0.05$/hour",
    )
    p.add_argument("--data-dir", help="the server's data directory (reads its ledger file)")
    p.add_argument("--offline", action="store_true", help="read the ledger file only")
    _output_options(p)
    p.set_defaults(func=bind(cmd_cost))

    p = sub.add_parser("tune", parents=[common], help="power tuning: the best memory size")
    p.add_argument("function", help="the function to tune")
    _tuning_options(p)
    p.add_argument("--rate", type=_rate, help="also show the month at this rate: 10/s")
    p.add_argument("--apply", action="store_true", help="leave the function at the recommendation")
    _output_options(p)
    p.set_defaults(func=bind(cmd_tune))

    p = sub.add_parser(
        "compare", parents=[common], help="one workload, two implementations: time, memory, cost"
    )
    p.add_argument("function_a", metavar="FUNCTION_A", help="one function (e.g. orders-py)")
    p.add_argument("function_b", metavar="FUNCTION_B", help="the other (e.g. orders-rs)")
    _tuning_options(p)
    p.add_argument(
        "--rate",
        type=_rate,
        default=parse_rate("10/s"),
        help="the monthly cost at this rate (default 10/s)",
    )
    p.add_argument(
        "--deploy-examples",
        action="store_true",
        help="deploy missing paired examples (orders-py, orders-rs, thumbnail-py, ...) from "
        "their built zips first",
    )
    p.add_argument("--examples", help="where the paired-*.zip files are (default build/examples)")
    _output_options(p)
    p.set_defaults(func=bind(cmd_compare))

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    p = bench_sub.add_parser(
        "coldstart",
        parents=[common],
        help="forced cold starts per runtime, beside lambda-perf's AWS figures",
    )
    p.add_argument(
        "--runtimes",
        default=",".join(DEFAULT_RUNTIMES),
        help="rust,python,node (also ric-python, ric-node)",
    )
    p.add_argument(
        "--memory", type=_sizes, default=(128,), metavar="MB,MB,...", help="sizes (default 128)"
    )
    p.add_argument("-n", "--count", type=int, default=10, help="cold starts per runtime and size")
    p.add_argument("--examples", help="where the hello zips are (default build/examples)")
    p.add_argument("--prefix", default="lamina-bench-coldstart", help="function name prefix")
    p.add_argument("--keep", action="store_true", help="keep the functions afterwards")
    _output_options(p)
    p.set_defaults(func=bind(cmd_bench_coldstart))
