"""``lamina up [template.yaml] [--watch]``: deploy a SAM / CloudFormation project to Lamina.

Registered by :mod:`lamina.cli.main` with :func:`add_up_parser`; :func:`cmd_up` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from lamina.cli.command import run
from lamina.cli.stack import progress, project_of
from lamina.client.boto import BotoClients
from lamina.client.http import ClientError
from lamina.sam.builds.deps import Toolchain
from lamina.sam.builds.package import Package
from lamina.sam.deploy import Project, deploy, toolchain
from lamina.sam.errors import SamError
from lamina.sam.report import as_json, render
from lamina.sam.result import UpResult
from lamina.sam.watch import Watcher
from lamina.terminal import paint


def add_up_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up`` to the ``lamina`` command's subparsers."""
    p = subparsers.add_parser(
        "up",
        help="deploy a SAM/CloudFormation template (functions, queues, buckets, events)",
        description="Create or update everything a SAM template describes on Lamina; "
        "with --watch, redeploy functions whose code changes.",
    )
    p.add_argument(
        "template", nargs="?", help="template file or directory (default: ./template.yaml)"
    )
    p.add_argument("--watch", action="store_true", help="redeploy on code or template changes")
    p.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values (also ParameterKey=K,ParameterValue=V)",
    )
    p.add_argument(
        "--stack-name", help="names resources (default: samconfig.toml's, or the directory's name)"
    )
    p.add_argument(
        "--endpoint",
        help="Lamina's URL (default: LAMINA_ENDPOINT, or http://LAMINA_HOST:LAMINA_PORT)",
    )
    p.add_argument(
        "--routes-file",
        help="write the API routes into this routes file (the server's "
        "LAMINA_HTTP_ROUTES_FILE) instead of defining the stack's APIs on the server, "
        "each on its own port (the default)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=cmd_up)


def _routes_hint(project: Project, clients: BotoClients, result: UpResult) -> str:
    """Where the routes file's routes are served: the port the server says it listens on."""
    if not result.spec.routes or project.routes_file is None:
        return ""
    try:
        served = clients.lamina().call("GET", "/lamina/v1/apis").get("routesFile") or {}
    except ClientError:
        served = {}
    if served.get("path") and Path(served["path"]).resolve() == project.routes_file:
        host = urlsplit(project.endpoint).hostname
        return (
            f"API routes are served on http://{host}:{served['port']} from "
            f"{project.routes_file} (the server reloads it when it changes)"
        )
    return (
        f"API routes written to {project.routes_file}; serve them with "
        f"LAMINA_HTTP_ROUTES_FILE={project.routes_file} lamina serve"
    )


def _report(
    project: Project,
    clients: BotoClients,
    result: UpResult,
    as_json_flag: bool,
    one_line: bool = False,
) -> None:
    if as_json_flag:
        # --watch --json prints one report per line, so a reader can take them one by one.
        indent = None if one_line else 2
        print(json.dumps(as_json(result), indent=indent, sort_keys=True), flush=True)
        return
    print(
        render(
            result,
            template=os.path.relpath(project.template),
            endpoint=project.endpoint,
            routes_hint=_routes_hint(project, clients, result),
        ),
        flush=True,
    )


def cmd_up(args: argparse.Namespace) -> int:
    """Run ``lamina up``; 0 when everything deployed, 1 when something failed."""
    project = project_of(args)
    clients = BotoClients.for_settings(project.endpoint, project.settings)
    tools = toolchain(project)
    if args.watch:
        tools = replace(tools, quick_rust=True)
    started_ns = time.time_ns()
    quiet = (lambda line: None) if args.json else progress
    result = deploy(project, clients=clients, tools=tools, progress=quiet)
    _report(project, clients, result, args.json, one_line=args.watch)
    if not args.watch:
        return 0 if result.ok else 1
    return _watch(project, clients, tools, result, args.json, started_ns)


def _watch(
    project: Project,
    clients: BotoClients,
    tools: Toolchain,
    result: UpResult,
    as_json_flag: bool,
    started_ns: int,
) -> int:
    watcher = Watcher(project.template, result.spec.functions, started_ns)
    packages: dict[str, Package] = dict(result.packages)
    print(
        paint(f"watching {project.directory} for changes (Ctrl-C to stop)", "cyan"),
        file=sys.stderr,
        flush=True,
    )
    while True:
        time.sleep(0.2)
        change = watcher.poll()
        if change is None:
            continue
        template_changed, functions = change
        started = time.monotonic()
        started_ns = time.time_ns()
        reuse = (
            {} if template_changed else {k: v for k, v in packages.items() if k not in functions}
        )
        what = "template" if template_changed else ", ".join(sorted(functions)) or "sources"
        print(paint(f"change in {what}: redeploying", "cyan"), file=sys.stderr, flush=True)
        try:
            result = deploy(project, clients=clients, tools=tools, reuse=reuse, progress=progress)
        except SamError as exc:
            print(paint(f"error: {exc}", "red"), file=sys.stderr, flush=True)
            continue
        packages = dict(result.packages)
        watcher.reset(result.spec.functions, started_ns)
        _report(project, clients, result, as_json_flag, one_line=True)
        print(
            paint(f"redeployed in {time.monotonic() - started:.2f} s", "dim"),
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m lamina.cli.up ...``: the same command without the rest of ``lamina``."""
    parser = argparse.ArgumentParser(prog="lamina")
    add_up_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["up", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    raise SystemExit(main())
