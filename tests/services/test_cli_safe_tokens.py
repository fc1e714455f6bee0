"""Tokens that clients pass back as CLI arguments never look like options.

A URL-safe base64 token begins with ``-`` one time in 64; the AWS CLI then reads
``--task-token -Xyz…`` as a flag and refuses the command (a CI run failed on it).
"""

from __future__ import annotations

import subprocess
import sys

from lamina.services.stepfunctions.tokens import task_token


def test_task_tokens_begin_like_aws_tokens() -> None:
    tokens = {task_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(t.startswith("AQ") for t in tokens)


def test_the_aws_cli_parses_a_task_token_as_its_value() -> None:
    # argparse as the AWS CLI uses it: a value after "--task-token" is taken only
    # if it does not look like an option.
    code = (
        "import argparse, sys\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--task-token')\n"
        "print(p.parse_args(sys.argv[1:]).task_token)\n"
    )
    token = task_token()
    done = subprocess.run(
        [sys.executable, "-c", code, "--task-token", token],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == token
    bad = subprocess.run(
        [sys.executable, "-c", code, "--task-token", "-" + token[2:]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode != 0
