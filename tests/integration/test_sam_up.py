"""``lamina up`` against a real ``lamina serve``: create, no-op, change, remove, watch.

The project is written to a temporary directory; ``lamina up`` runs as users run it (a
subprocess, ``--json`` for the report) and the functions are checked with boto3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, running_lamina
from tests.sam.upcli import Watching, kinds, nothing_done, up, up_command, wait_for

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

STACK = "samtest"
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: python3.12
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      AutoPublishAlias: live
      Environment:
        Variables:
          OTHER: !Ref Other
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: app.handler
      MemorySize: {other_memory}
      ReservedConcurrentExecutions: 2
Outputs:
  HelloArn:
    Value: !GetAtt Hello.Arn
"""
HANDLER = """
import os

def handler(event, context):
    return {{"v": {version}, "stage": os.environ["STAGE"], "other": os.environ.get("OTHER"),
             "fn": context.function_name, "version": context.function_version}}
"""


def write_project(root: Path, *, other_memory: int = 128, with_other: bool = True) -> Path:
    text = TEMPLATE.format(other_memory=other_memory)
    if not with_other:
        text = text.replace("          OTHER: !Ref Other\n", "")
        text = text[: text.index("  Other:")] + text[text.index("Outputs:") :]
    (root / "template.yaml").write_text(textwrap.dedent(text))
    for name in ("hello", "other"):
        (root / name).mkdir(exist_ok=True)
        if not (root / name / "app.py").exists():
            (root / name / "app.py").write_text(HANDLER.format(version=1))
    return root / "template.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("sam-up-data")) as proc:
        yield proc


def invoke(server: LaminaProcess, name: str, qualifier: str | None = None) -> Any:
    extra = {"Qualifier": qualifier} if qualifier else {}
    out = server.lambda_client().invoke(FunctionName=name, Payload=b"{}", **extra)
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read())


def test_up_creates_then_changes_nothing_then_one_function_then_removes(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = write_project(tmp_path)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert kinds(report, "created") == [
        ("function", "samtest-Hello"),
        ("function", "samtest-Other"),
    ]
    assert report["outputs"] == {
        "HelloArn": "arn:aws:lambda:us-east-1:000000000000:function:samtest-Hello"
    }
    hello = invoke(server, "samtest-Hello", "live")
    assert hello == {
        "v": 1,
        "stage": "dev",
        "other": "samtest-Other",
        "fn": "samtest-Hello",
        "version": "1",
    }
    lam = server.lambda_client()
    concurrency = lam.get_function_concurrency(FunctionName="samtest-Other")
    assert concurrency["ReservedConcurrentExecutions"] == 2
    tags = lam.get_function(FunctionName="samtest-Other")["Tags"]
    assert tags["lamina:stack"] == STACK and tags["lamina:logical-id"] == "Other"

    # The same template again: nothing to do.
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0 and nothing_done(report), report
    text = subprocess.run(
        up_command(server, template, "--stack-name", STACK),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert text.startswith(f"lamina up: stack {STACK} from ") and "\n  no changes\n" in text

    # One property of one function: that function changes, nothing else.
    write_project(tmp_path, other_memory=256)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0
    assert report["changed"] == [
        {"kind": "function", "name": "samtest-Other", "changes": ["MemorySize 128 → 256"]}
    ]
    assert not report["created"] and not report["removed"]
    assert lam.get_function_configuration(FunctionName="samtest-Other")["MemorySize"] == 256

    # A parameter override reaches the environment; the alias moves to a new version.
    code, report = up(
        server, template, "--stack-name", STACK, "--parameter-overrides", "Stage=prod"
    )
    assert code == 0
    assert kinds(report, "changed") == [
        ("function", "samtest-Hello"),
        ("function", "samtest-Other"),
    ]
    assert invoke(server, "samtest-Hello", "live")["stage"] == "prod"
    assert invoke(server, "samtest-Hello", "live")["version"] == "2"

    # A resource removed from the template is deleted.
    write_project(tmp_path, with_other=False)
    code, report = up(
        server, template, "--stack-name", STACK, "--parameter-overrides", "Stage=prod"
    )
    assert code == 0, report
    assert kinds(report, "removed") == [("function", "samtest-Other")]
    with pytest.raises(ClientError) as info:
        lam.get_function(FunctionName="samtest-Other")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert invoke(server, "samtest-Hello", "live")["other"] is None


def test_an_unreachable_lamina_is_a_clear_error(tmp_path: Path) -> None:
    template = write_project(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "lamina.cli.up", str(template), "--endpoint", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "cannot read what Lamina at http://127.0.0.1:9 has" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_lost_state_file_still_finds_the_stacks_functions_by_tag(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = write_project(tmp_path)
    code, _ = up(server, template, "--stack-name", "tagged")
    assert code == 0
    for state in (tmp_path / ".lamina" / "stacks").iterdir():
        state.unlink()
    write_project(tmp_path, with_other=False)
    code, report = up(server, template, "--stack-name", "tagged")
    assert code == 0
    assert kinds(report, "removed") == [("function", "tagged-Other")]


def test_a_broken_build_fails_that_function_only(server: LaminaProcess, tmp_path: Path) -> None:
    template = write_project(tmp_path)
    (tmp_path / "other" / "requirements.txt").write_text("no-such-package-lamina-test==0.0.1\n")
    code, report = up(server, template, "--stack-name", "broken")
    assert code == 1
    assert kinds(report, "created") == [("function", "broken-Hello")]
    (failure,) = report["failed"]
    assert failure["kind"] == "build" and failure["name"] == "Other"
    assert "no-such-package-lamina-test" in failure["error"]


def test_watch_redeploys_changed_code_and_never_mixes_versions(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = write_project(tmp_path)
    watching = Watching(server, template, "--stack-name", "watched")
    try:
        first = watching.next_report()
        assert kinds(first, "created") == [
            ("function", "watched-Hello"),
            ("function", "watched-Other"),
        ]
        assert invoke(server, "watched-Other")["v"] == 1  # warm now: an old environment exists

        (tmp_path / "other" / "app.py").write_text(HANDLER.format(version=2))
        second = watching.next_report(timeout=120)
        assert second["changed"] == [
            {"kind": "function", "name": "watched-Other", "changes": ["code"]}
        ]
        wait_for(lambda: invoke(server, "watched-Other")["v"] == 2, 60, "the new code")
        # Once the new code answered, the old environment is gone: never v1 again.
        assert [invoke(server, "watched-Other")["v"] for _ in range(10)] == [2] * 10

        # Code behind an alias: a new version is published and the alias moves.
        (tmp_path / "hello" / "app.py").write_text(HANDLER.format(version=3))
        third = watching.next_report(timeout=120)
        (change,) = third["changed"]
        assert change["name"] == "watched-Hello"
        assert change["changes"] == ["code", "publish a version, alias live"]
        assert invoke(server, "watched-Hello", "live")["v"] == 3
    finally:
        watching.stop()
