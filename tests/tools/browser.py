"""Open a file in headless Chromium: the DOM after scripts ran, and the console's lines.

Without a usable Chromium the test is skipped on a developer's machine, but fails in CI
(:mod:`tests.unavailable`), where scripts/install-system-deps.sh has installed it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.unavailable import unavailable


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
