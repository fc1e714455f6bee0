"""``lamina down [template.yaml]``: remove what ``lamina up`` deployed for a stack.

Registered by :mod:`lamina.cli.main` with :func:`add_down_parser`; :func:`cmd_down` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys

from lamina.cli.stack import progress, project_of
from lamina.sam.down import remove_stack
from lamina.terminal import paint


def add_down_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``down`` to the ``lamina`` command's subparsers."""
    p = subparsers.add_parser(
        "down",
        help="remove everything `lamina up` deployed for a stack",
        description="Delete the functions, queues, buckets, rules, schedules, mappings, APIs "
        "and roles `lamina up` made for the stack (what its state file and the lamina:stack "
        "tag name); the stack then reads DELETE_COMPLETE in CloudFormation's ListStacks.",
    )
    p.add_argument(
        "template", nargs="?", help="template file or directory (default: ./template.yaml)"
    )
    p.add_argument(
        "--stack-name", help="the stack (default: samconfig.toml's, or the directory's name)"
    )
    p.add_argument(
        "--endpoint",
        help="Lamina's URL (default: LAMINA_ENDPOINT, or http://LAMINA_HOST:LAMINA_PORT)",
    )
    p.add_argument(
        "--routes-file", help="the routes file `up` wrote the stack's routes into, if any"
    )
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=cmd_down, parameter_overrides=[])


def cmd_down(args: argparse.Namespace) -> int:
    """Run ``lamina down``; 0 when everything was removed, 1 when something failed."""
    project = project_of(args)
    applied = remove_stack(project, progress=(lambda line: None) if args.json else progress)
    removed = [f"{o.action.kind} {o.action.name}" for o in applied.outcomes if not o.error]
    failed = [
        {"kind": o.action.kind, "name": o.action.name, "error": o.error} for o in applied.failed
    ]
    if args.json:
        report = {
            "stack": project.stack,
            "removed": removed,
            "failed": failed,
            "warnings": applied.warnings,
        }
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"lamina down: stack {project.stack} at {project.endpoint}")
        for line in removed:
            print(paint(f"  removed  {line}", "yellow"))
        for item in failed:
            print(paint(f"  failed   {item['kind']} {item['name']}: {item['error']}", "red"))
        for warning in applied.warnings:
            print(paint(f"  warning  {warning}", "yellow"), file=sys.stderr)
    return 1 if failed else 0
