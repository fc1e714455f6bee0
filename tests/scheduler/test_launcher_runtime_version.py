"""The launcher's runtime version: worked out once per runtime per server, from the
interpreter the registry chose (a fake one here, counting its runs)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from lamina.config import Settings
from lamina.runtimes.registry import runtime_dir
from lamina.runtimes.version import bootstrap_digest, runtime_version
from lamina.sandbox import Sandbox
from lamina.scheduler.launcher import Launcher
from tests.runtimes.test_runtime_registry import fake_binary, isolated


class _NoSandbox:
    """The launcher reads only ``network`` from its sandbox when it is made."""

    network = None


def _launcher(tmp_path: Path, region: str = "eu-south-1") -> Launcher:
    settings = Settings(data_dir=tmp_path / "data", region=region)
    return Launcher(settings, cast(Sandbox, _NoSandbox()), isolated(tmp_path), lambda _s: tmp_path)


def test_the_version_is_the_chosen_interpreters_and_is_worked_out_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    python = fake_binary(tmp_path / "sys" / "python3.12", "Python 3.12.4", runs)
    launcher = _launcher(tmp_path)
    first = launcher.runtime_version("python3.12")
    assert launcher.runtime_version("python3.12") is first
    assert runs.read_text().count("run") == 1  # probed once, then cached
    digest = bootstrap_digest("python3.12", runtime_dir())
    assert first == runtime_version("python3.12", str(python), "3.12.4", digest, "eu-south-1")
    # Another interpreter (a new server after an upgrade): another version.
    fake_binary(tmp_path / "sys" / "python3.12", "Python 3.12.5")
    upgraded = _launcher(tmp_path).runtime_version("python3.12")
    assert upgraded.name != first.name and upgraded.arn != first.arn


def test_a_runtime_that_cannot_run_here_still_gets_a_version(tmp_path: Path) -> None:
    launcher = _launcher(tmp_path)
    missing = launcher.runtime_version("python3.13")  # no python3.13 under tmp_path
    assert missing.name.startswith("python:3.13.v")
    provided = launcher.runtime_version("provided.al2023")
    assert provided.name.startswith("provided:al2023.v")
    assert provided.arn.startswith("arn:aws:lambda:eu-south-1::runtime:")
