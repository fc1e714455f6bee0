"""Tokens that clients pass back as CLI arguments never look like options.

A URL-safe base64 token begins with ``-`` one time in 64; the AWS CLI then reads
``--task-token -Xyz…`` as a flag and refuses the command (a CI run failed on it).
"""

from __future__ import annotations

import argparse

import pytest

from lamina.services.stepfunctions.tokens import task_token


def test_task_tokens_begin_like_aws_tokens() -> None:
    tokens = {task_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(t.startswith("AQ") for t in tokens)


def test_the_aws_cli_parses_a_task_token_as_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse as the AWS CLI uses it: a value after "--task-token" is taken only
    # if it does not look like an option.
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-token")
    token = task_token()
    assert parser.parse_args(["--task-token", token]).task_token == token
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["--task-token", "-" + token[2:]])
    assert refused.value.code != 0
    assert "--task-token" in capsys.readouterr().err
