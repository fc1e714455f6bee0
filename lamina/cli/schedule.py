"""``lamina schedule``: EventBridge-style schedules that invoke functions.

A thin client of the EventBridge API Lamina serves (the same one ``aws events`` and
boto3's ``events`` client use): a rule with a ``rate(...)`` or ``cron(...)`` expression and
one target, the function.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from lamina.arns import function_arn
from lamina.cli.command import arn_of, settings_and_endpoint
from lamina.client.boto import BotoClients
from lamina.errors import LaminaError
from lamina.terminal import dump_json, paint, table

Command = Callable[[argparse.Namespace], int]


def _events(args: argparse.Namespace) -> Any:
    settings, endpoint = settings_and_endpoint(args)
    return BotoClients.for_settings(endpoint, settings)("events")


def cmd_put(args: argparse.Namespace) -> int:
    events = _events(args)
    try:
        payload = json.loads(args.input) if args.input is not None else None
    except ValueError as exc:
        raise LaminaError(f"--input must be JSON: {exc}") from exc
    rule = events.put_rule(
        Name=args.name,
        ScheduleExpression=args.expression,
        State="DISABLED" if args.disabled else "ENABLED",
    )
    target: dict[str, Any] = {"Id": "1", "Arn": arn_of(args.function, function_arn)}
    if payload is not None:
        target["Input"] = json.dumps(payload)
    events.put_targets(Rule=args.name, Targets=[target])
    if args.json:
        dump_json({"RuleArn": rule["RuleArn"], "Target": target})
    else:
        print(f"{paint('scheduled', 'green')} {args.name}: {args.expression} → {args.function}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    events = _events(args)
    rules = events.list_rules()["Rules"]
    rows = []
    for rule in rules:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        rows.append(
            {
                "Name": rule["Name"],
                "ScheduleExpression": rule.get("ScheduleExpression"),
                "State": rule.get("State"),
                "Targets": [t["Arn"] for t in targets],
            }
        )
    if args.json:
        dump_json(rows)
        return 0
    table(
        ["NAME", "EXPRESSION", "STATE", "TARGET"],
        [
            [
                r["Name"],
                r["ScheduleExpression"] or "-",
                r["State"],
                ", ".join(t.rsplit(":", 1)[-1] for t in r["Targets"]) or "-",
            ]
            for r in rows
        ],
    )
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    events = _events(args)
    for name in args.names:
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if targets:
            events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=name)
        if not args.json:
            print(f"{paint('deleted', 'yellow')} {name}")
    if args.json:
        dump_json({"Deleted": args.names})
    return 0


def friendly(command: Command) -> Command:
    """Turn botocore's errors into one clear line (the CLI prints LaminaError and exits 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            raise LaminaError(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise LaminaError(f"cannot reach Lamina: {exc}. Is `lamina serve` running?") from exc

    return run


def add_schedule_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``lamina schedule put|ls|rm``."""
    parser = sub.add_parser("schedule", help="schedules (rate/cron) that invoke functions")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("put", parents=[common], help="create or replace a schedule")
    p.add_argument("name", help="the schedule's name")
    p.add_argument("expression", help="rate(5 minutes) or cron(0 12 * * ? *), UTC")
    p.add_argument("function", help="function name or ARN")
    p.add_argument("--input", help="the JSON event to send instead of the scheduled event")
    p.add_argument("--disabled", action="store_true", help="create it switched off")
    p.set_defaults(func=friendly(cmd_put))
    p = verbs.add_parser("ls", parents=[common], help="list schedules")
    p.set_defaults(func=friendly(cmd_ls))
    p = verbs.add_parser("rm", parents=[common], help="delete schedules")
    p.add_argument("names", nargs="+", help="schedule names")
    p.set_defaults(func=friendly(cmd_rm))
