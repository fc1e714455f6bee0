"""Open a file in headless Chromium: the DOM after scripts ran, and the console's lines.

Without a usable Chromium the test is skipped on a developer's machine, but fails in CI
(``CI=true``), where scripts/install-system-deps.sh has installed it: a browser check that
quietly stopped running would look like a browser check that passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere, saying why."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser check must run)")
    pytest.skip(reason)


def chromium() -> str:
    """The browser binary, or skip (fail in CI) saying why."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("no Chromium: scripts/install-system-deps.sh installs Debian's chromium")


def open_page(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Load ``page`` headless; returns the dumped DOM and every console message logged."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"Chromium could not run: {exc}")
    if done.returncode != 0 and not done.stdout.strip():
        tail = "\n".join(done.stderr.splitlines()[-5:])
        unavailable(f"Chromium could not start (exit {done.returncode}): {tail}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console
