"""What every ``lamina`` command shares: the Lamina it talks to, and its exit code.

The endpoint is ``--endpoint``, else ``LAMINA_ENDPOINT``, else the settings' own
(``http://LAMINA_HOST:LAMINA_PORT``). A command's errors (a :class:`LaminaError`, the
client's among them, or an ``OSError``) become one red line and exit code 2; Ctrl-C is 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from lamina.config import Settings, load_settings
from lamina.errors import LaminaError
from lamina.terminal import paint


def settings_and_endpoint(args: argparse.Namespace) -> tuple[Settings, str]:
    """The settings (from ``LAMINA_*``) and the endpoint the command talks to."""
    settings = load_settings(os.environ)
    endpoint = args.endpoint or os.environ.get("LAMINA_ENDPOINT") or settings.endpoint
    return settings, str(endpoint)


def endpoint_of(args: argparse.Namespace) -> str:
    """The endpoint alone (settings are read only when neither flag nor variable names it)."""
    if args.endpoint:
        return str(args.endpoint)
    return os.environ.get("LAMINA_ENDPOINT") or load_settings(os.environ).endpoint


def arn_of(name: str, build: Callable[[str, str, str], str]) -> str:
    """``name`` itself when it is an ARN, else ``build(region, account, name)`` in the
    settings' region and account."""
    if name.startswith("arn:"):
        return name
    settings = load_settings(os.environ)
    return build(settings.region, settings.account_id, name)


def run(args: argparse.Namespace) -> int:
    """Run the command ``args.func`` the parser chose; its exit code."""
    try:
        return int(args.func(args))
    except (LaminaError, OSError) as exc:
        print(paint(f"error: {exc}", "red", sys.stderr), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
