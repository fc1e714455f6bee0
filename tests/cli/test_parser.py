"""The ``lamina`` parser itself: every option explained, ``--version``, deploy inference."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lamina.cli.main import build_parser
from tests.integration.harness import ROOT


def commands(
    parser: argparse.ArgumentParser, path: str = "lamina"
) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += commands(sub, f"{path} {name}")
    return out


def test_every_option_and_argument_of_every_command_has_help_text() -> None:
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in commands(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and not action.help
    ]
    assert missing == []


def test_every_command_has_a_summary_line() -> None:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            assert set(helps) == set(action.choices)
            assert all(helps.values()), helps


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lamina.cli.main", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("lamina ") and done.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("command", ["serve", "deploy", "cost", "up"])
def test_help_of_a_command_runs(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "--" in capsys.readouterr().out
