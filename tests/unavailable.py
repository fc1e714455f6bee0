"""A check that cannot run here: skipped on a developer's machine, failed in CI.

CI (``CI=true``, set by ``.ci/run``) runs as root with every system package installed, so
there a missing browser or missing root means the check silently stopped running — which
must be red, not a quiet skip that looks like a pass.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere, saying why."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this check must run)")
    pytest.skip(reason)
