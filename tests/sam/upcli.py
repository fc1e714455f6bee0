"""Helpers for ``lamina up`` end-to-end tests: run the command, read its JSON reports."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.harness import ROOT, LaminaProcess


def up_command(server: LaminaProcess, template: Path, *args: str) -> list[str]:
    """``lamina up`` (as ``python -m lamina.cli.up``) of ``template`` against ``server``."""
    return [sys.executable, "-m", "lamina.cli.up", str(template), "--endpoint", server.endpoint,
            *args]  # fmt: skip


def up(
    server: LaminaProcess, template: Path, *args: str, timeout: float = 600
) -> tuple[int, dict[str, Any]]:
    """Run ``lamina up --json`` once; (exit code, report)."""
    proc = subprocess.run(
        up_command(server, template, "--json", *args),
        cwd=template.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"lamina up printed no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from None
    return proc.returncode, report


def kinds(report: dict[str, Any], verb: str) -> list[tuple[str, str]]:
    return sorted((item["kind"], item["name"]) for item in report[verb])


def nothing_done(report: dict[str, Any]) -> bool:
    return not (report["created"] or report["changed"] or report["removed"] or report["failed"])


class Watching:
    """``lamina up --watch --json`` in the background; its reports arrive one per line."""

    def __init__(self, server: LaminaProcess, template: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            up_command(server, template, "--json", "--watch", *args),
            cwd=template.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reports: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.reports.put(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def next_report(self, timeout: float = 300) -> dict[str, Any]:
        try:
            return self.reports.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                "no report from lamina up --watch:\n" + "".join(self.stderr)
            ) from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(check: Callable[[], bool], limit_s: float = 60.0, what: str = "condition") -> None:
    """Poll ``check`` until true, or fail after ``limit_s`` (a deadline, not a timing claim)."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


EXAMPLES = ROOT / "examples" / "sam"
FIXTURES = ROOT / "tests" / "sam" / "fixtures"
