"""``lamina workflow``: Step Functions executions at a glance.

A thin client of the Step Functions API Lamina serves. ``lamina workflow ls MACHINE``
lists a state machine's executions; ``lamina workflow picture EXECUTION -o run.svg``
draws one (``.html`` adds the event list) with :mod:`lamina.workflows.picture`;
``lamina workflow cost`` prices Standard workflows' transitions (:mod:`lamina.workflows.cost`).
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

from lamina.arns import state_machine_arn
from lamina.cli.command import arn_of, settings_and_endpoint
from lamina.cli.schedule import friendly as _friendly
from lamina.client.boto import BotoClients
from lamina.terminal import dump_json, paint, table
from lamina.workflows.cost import load_workflow_prices, standard_cost, transitions
from lamina.workflows.picture import render_html, render_svg


def _sfn(args: argparse.Namespace) -> Any:
    settings, endpoint = settings_and_endpoint(args)
    return BotoClients.for_settings(endpoint, settings)("stepfunctions")


def cmd_ls(args: argparse.Namespace) -> int:
    sfn = _sfn(args)
    arn = arn_of(args.machine, state_machine_arn)
    executions = sfn.list_executions(stateMachineArn=arn, maxResults=args.limit)["executions"]
    if args.json:
        dump_json([
            {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in e.items()}
            for e in executions
        ])  # fmt: skip
        return 0
    table(
        ["NAME", "STATUS", "STARTED", "SECONDS"],
        [
            [
                e["name"],
                e["status"],
                e["startDate"].strftime("%Y-%m-%d %H:%M:%S"),
                f"{(e['stopDate'] - e['startDate']).total_seconds():.2f}"
                if "stopDate" in e
                else "-",
            ]
            for e in executions
        ],
    )
    return 0


def cmd_picture(args: argparse.Namespace) -> int:
    sfn = _sfn(args)
    arn = args.execution
    events = _history(sfn, arn)
    definition = sfn.describe_state_machine_for_execution(executionArn=arn)["definition"]
    title = arn.rsplit(":", 1)[-1]
    out = Path(args.output)
    render = render_html if out.suffix.lower() in (".html", ".htm") else render_svg
    out.write_text(render(definition, events, title))
    print(f"{paint('wrote', 'green')} {out}")
    return 0


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = sfn.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def cmd_cost(args: argparse.Namespace) -> int:
    """Standard workflows' cost on AWS: transitions counted from each execution's history."""
    sfn = _sfn(args)
    prices = load_workflow_prices()
    machines = sfn.list_state_machines(maxResults=1000)["stateMachines"]
    if args.machines:
        wanted = {arn_of(m, state_machine_arn) for m in args.machines}
        machines = [m for m in machines if m["stateMachineArn"] in wanted]
    rows = []
    total = 0
    for m in machines:
        if m["type"] == "EXPRESS":
            rows.append({"stateMachine": m["name"], "type": "EXPRESS", "executions": None,
                         "transitions": None})  # fmt: skip
            continue
        executions = sfn.list_executions(stateMachineArn=m["stateMachineArn"], maxResults=1000)
        count = sum(transitions(_history(sfn, e["executionArn"])) for e in executions["executions"])
        total += count
        rows.append({"stateMachine": m["name"], "type": "STANDARD",
                     "executions": len(executions["executions"]), "transitions": count,
                     "cost": str(standard_cost(count, prices, free_tier=False))})  # fmt: skip
    with_free = standard_cost(total, prices, free_tier=True)
    if args.json:
        dump_json({"stateMachines": rows, "transitions": total,
                   "costWithFreeTier": str(with_free)})  # fmt: skip
        return 0
    table(
        ["STATE MACHINE", "TYPE", "EXECUTIONS", "TRANSITIONS", "COST (USD)"],
        [
            [r["stateMachine"], r["type"], r["executions"] if r["executions"] is not None else "-",
             r["transitions"] if r["transitions"] is not None else "-",
             f"{Decimal(r['cost']):.6f}" if "cost" in r else "not recorded"]
            for r in rows
        ],
    )  # fmt: skip
    print(f"{total} transitions: ${with_free:.6f} after the free {prices.free_transitions} a month"
          f" (${prices.per_1000_transitions} per 1,000)")  # fmt: skip
    return 0


def add_workflow_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``lamina workflow ls|picture``."""
    parser = sub.add_parser("workflow", help="Step Functions executions: list, picture")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("ls", parents=[common], help="list a state machine's executions")
    p.add_argument("machine", help="state machine name or ARN")
    p.add_argument("--limit", type=int, default=100, help="at most this many, newest first")
    p.set_defaults(func=_friendly(cmd_ls))
    p = verbs.add_parser("cost", parents=[common], help="what Standard workflows cost on AWS")
    p.add_argument("machines", nargs="*", help="state machine names or ARNs (default: all)")
    p.set_defaults(func=_friendly(cmd_cost))
    p = verbs.add_parser("picture", parents=[common], help="draw an execution (SVG or HTML)")
    p.add_argument("execution", help="execution ARN")
    p.add_argument("-o", "--output", default="execution.svg", help="file.svg or file.html")
    p.set_defaults(func=_friendly(cmd_picture))
