"""What ``lamina up`` and ``lamina down`` share: the stack project their arguments name,
and the progress lines both print to stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamina.cli.command import settings_and_endpoint
from lamina.sam.deploy import Project, default_stack, samconfig
from lamina.sam.names import stack_name
from lamina.sam.parameters import parse_overrides
from lamina.sam.template import find_template
from lamina.terminal import paint


def project_of(args: argparse.Namespace) -> Project:
    """The project: its template, endpoint, stack name, parameter overrides (samconfig.toml's,
    then ``--parameter-overrides``) and routes file."""
    settings, endpoint = settings_and_endpoint(args)
    template = find_template(args.template, Path.cwd()).resolve()
    config = samconfig(template.parent)
    overrides: dict[str, str] = {}
    saved = config.get("parameter_overrides")
    if saved:
        overrides.update(parse_overrides(saved if isinstance(saved, list) else [str(saved)]))
    overrides.update(parse_overrides(args.parameter_overrides))
    # Without --routes-file the stack's APIs are defined on the server (each on its own
    # port, changed live); with it, the routes go into that file, as before.
    routes = Path(args.routes_file).resolve() if args.routes_file else None
    return Project(
        template=template,
        endpoint=endpoint.rstrip("/"),
        settings=settings,
        stack=stack_name(args.stack_name) if args.stack_name else default_stack(template.parent),
        overrides=overrides,
        routes_file=routes,
    )


def progress(line: str) -> None:
    """One step of a deploy or removal, dimmed, on stderr."""
    print(paint(f"  … {line}", "dim"), file=sys.stderr, flush=True)
