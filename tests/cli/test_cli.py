"""The ``lamina`` command line, run as a subprocess against a real server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import REPORT, LaminaProcess, lamina_cli, running_lamina

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ECHO = """
def handler(event, context):
    print("cli-echo saw", event)
    return event
"""

FAILING = """
def handler(event, context):
    raise ValueError("cli says no")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("cli-data")) as proc:
        yield proc


def lamina(
    *args: str, endpoint: str | None = None, server: LaminaProcess | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``lamina <args> --endpoint ...`` and capture its output."""
    url = endpoint if endpoint is not None else server.endpoint if server else ""
    return lamina_cli(*args, "--endpoint", url)


def write_function(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(textwrap.dedent(source))
    return folder


def deploy(
    server: LaminaProcess, folder: Path, name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return lamina(
        "deploy",
        str(folder),
        "--name",
        name,
        "--runtime",
        "python3.12",
        "--handler",
        "app.handler",
        *extra,
        server=server,
    )


def test_deploy_creates_then_a_second_deploy_updates(server: LaminaProcess, tmp_path: Path) -> None:
    folder = write_function(tmp_path / "fn", 'def handler(e, c):\n    return "first"\n')
    created = deploy(server, folder, "cli-deploy")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created cli-deploy (python3.12, 128 MB")
    assert lamina("invoke", "cli-deploy", server=server).stdout.strip() == '"first"'

    write_function(folder, 'def handler(e, c):\n    return "second"\n')
    updated = deploy(server, folder, "cli-deploy", "--memory", "256")
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.startswith("updated cli-deploy (python3.12, 256 MB")
    assert lamina("invoke", "cli-deploy", server=server).stdout.strip() == '"second"'
    listed = json.loads(lamina("ls", "--json", server=server).stdout)
    assert [f["MemorySize"] for f in listed if f["FunctionName"] == "cli-deploy"] == [256]


def test_redeploy_without_runtime_and_handler_updates_code_only(
    server: LaminaProcess, tmp_path: Path
) -> None:
    folder = write_function(tmp_path / "fn", 'def handler(e, c):\n    return "one"\n')
    assert deploy(server, folder, "cli-redeploy").returncode == 0
    write_function(folder, 'def handler(e, c):\n    return "two"\n')
    updated = lamina("deploy", str(folder), "--name", "cli-redeploy", server=server)
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.startswith("updated cli-redeploy (python3.12, 128 MB")
    assert lamina("invoke", "cli-redeploy", server=server).stdout.strip() == '"two"'


def test_invoke_prints_the_result(server: LaminaProcess, tmp_path: Path) -> None:
    assert deploy(server, write_function(tmp_path / "echo", ECHO), "cli-echo").returncode == 0
    out = lamina("invoke", "cli-echo", "--payload", '{"a":1}', server=server)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"a": 1}
    assert out.stderr == ""


def test_invoke_payload_from_a_file(server: LaminaProcess, tmp_path: Path) -> None:
    assert deploy(server, write_function(tmp_path / "echo", ECHO), "cli-file").returncode == 0
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"from": "file", "n": [1, 2, 3]}))
    out = lamina("invoke", "cli-file", "--payload", f"@{payload}", server=server)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"from": "file", "n": [1, 2, 3]}


def test_invoke_tail_prints_the_log_with_report_on_stderr(
    server: LaminaProcess, tmp_path: Path
) -> None:
    assert deploy(server, write_function(tmp_path / "echo", ECHO), "cli-tail").returncode == 0
    out = lamina("invoke", "cli-tail", "--payload", '{"t":1}', "--tail", server=server)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"t": 1}
    err_lines = out.stderr.splitlines()
    assert err_lines[0].startswith("START RequestId: ")
    assert "cli-echo saw {'t': 1}" in err_lines
    assert REPORT.match(err_lines[-1]) or REPORT.match(err_lines[-1] + "\t"), err_lines[-1]
    assert "REPORT" not in out.stdout


def test_invoking_a_failing_function_exits_1(server: LaminaProcess, tmp_path: Path) -> None:
    folder = write_function(tmp_path / "fail", FAILING)
    assert deploy(server, folder, "cli-fail").returncode == 0
    out = lamina("invoke", "cli-fail", server=server)
    assert out.returncode == 1
    body = json.loads(out.stdout)
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "cli says no"


def test_ls_shows_the_function_in_a_table_and_as_json(
    server: LaminaProcess, tmp_path: Path
) -> None:
    assert deploy(server, write_function(tmp_path / "ls", ECHO), "cli-ls").returncode == 0
    out = lamina("ls", server=server)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == [
        "NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "ARCH", "CODE", "MODIFIED"
    ]  # fmt: skip
    row = next(r for r in rows if r.split()[0] == "cli-ls")
    assert row.split()[1:7] == ["python3.12", "app.handler", "128", "MB", "3", "s"]

    listed = lamina("ls", "--json", server=server)
    assert listed.returncode == 0
    functions = json.loads(listed.stdout)
    mine = [f for f in functions if f["FunctionName"] == "cli-ls"]
    assert len(mine) == 1
    assert mine[0]["Runtime"] == "python3.12"
    assert mine[0]["Handler"] == "app.handler"


def test_logs_show_platform_lines_and_the_functions_own_output(
    server: LaminaProcess, tmp_path: Path
) -> None:
    assert deploy(server, write_function(tmp_path / "logs", ECHO), "cli-logs").returncode == 0
    invoked = lamina("invoke", "cli-logs", "--payload", '{"mark":"zebra"}', server=server)
    assert invoked.returncode == 0
    out = lamina("logs", "cli-logs", server=server)
    assert out.returncode == 0, out.stderr
    # Each line is "HH:MM:SS <message>".
    messages = [line.split(" ", 1)[1] for line in out.stdout.splitlines()]
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert any(m.startswith("END RequestId: ") for m in messages)
    assert any(m.startswith("REPORT RequestId: ") for m in messages)
    assert "cli-echo saw {'mark': 'zebra'}" in messages
    assert all(re.match(r"\d{2}:\d{2}:\d{2} ", line) for line in out.stdout.splitlines())
    as_json = lamina("logs", "cli-logs", "--json", server=server)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {"timestamp", "message", "logStreamName"} <= set(events[0])


def test_cost_shows_invocations_and_a_dollar_total(server: LaminaProcess, tmp_path: Path) -> None:
    assert deploy(server, write_function(tmp_path / "cost", ECHO), "cli-cost").returncode == 0
    for _ in range(3):
        assert lamina("invoke", "cli-cost", server=server).returncode == 0
    out = lamina("cost", "cli-cost", server=server)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split()[:2] == ["FUNCTION", "INVOCATIONS"]
    assert "TOTAL" in header
    (row,) = [r for r in rows if r.split()[0] == "cli-cost"]
    cells = row.split()
    assert cells[1] == "3"  # invocations
    assert cells[2] == "1"  # one cold start
    assert cells[-1].startswith("$")
    assert float(cells[-1].lstrip("$").replace(",", "")) > 0

    # INIT as REPORT billed it (the cold start's Init Duration), not 0.00.
    assert header.split()[6:8] == ["INIT", "MS"]
    assert float(cells[5]) > 0

    as_json = lamina("cost", "--json", server=server)
    assert as_json.returncode == 0
    rows_json = json.loads(as_json.stdout)
    (mine,) = [r for r in rows_json if r["function"] == "cli-cost"]
    assert mine["invocations"] == 3
    assert float(mine["total_cost"]) > 0
    assert mine["init_ms"] > 0


def test_cost_views_come_from_the_server_without_a_data_dir(
    server: LaminaProcess, tmp_path: Path
) -> None:
    assert deploy(server, write_function(tmp_path / "views", ECHO), "cli-views").returncode == 0
    assert lamina("invoke", "cli-views", server=server).returncode == 0
    # The server's data directory is not this user's default one: the views come over HTTP.
    for by, key in (("day", "day"), ("version", "version"), ("month", "month")):
        out = lamina("cost", "cli-views", "--by", by, "--json", server=server)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        assert rows and all(key in r for r in rows), rows
    by_version = json.loads(lamina("cost", "cli-views", "--by", "version", "--json",
                                   server=server).stdout)  # fmt: skip
    assert [(r["function"], r["version"], r["invocations"]) for r in by_version] == [
        ("cli-views", "$LATEST", 1)
    ]
    assert by_version[0]["init_ms"] > 0
    text = lamina("cost", "cli-views", "--by", "day", server=server)
    assert f"source: the server's ledger ({server.endpoint})" in text.stdout


def test_rm_deletes_the_function(server: LaminaProcess, tmp_path: Path) -> None:
    assert deploy(server, write_function(tmp_path / "rm", ECHO), "cli-rm").returncode == 0
    out = lamina("rm", "cli-rm", server=server)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "deleted cli-rm"
    names = [f["FunctionName"] for f in json.loads(lamina("ls", "--json", server=server).stdout)]
    assert "cli-rm" not in names
    gone = lamina("invoke", "cli-rm", server=server)
    assert gone.returncode == 2
    assert "ResourceNotFoundException" in gone.stderr
    again = lamina("rm", "cli-rm", server=server)
    assert again.returncode == 2


def test_an_unreachable_endpoint_exits_2_with_a_clear_message() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    out = lamina("ls", endpoint=f"http://127.0.0.1:{port}")
    assert out.returncode == 2
    assert f"cannot reach Lamina at http://127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_runtimes_lists_python312_with_its_interpreter(server: LaminaProcess) -> None:
    out = lamina("runtimes", server=server)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.split()[0] == "python3.12")
    interpreter = row.split()[1]
    assert Path(interpreter).name.startswith("python3.12"), row
    assert Path(interpreter).is_file()
    assert row.split()[2].startswith("3.12.")
    as_json = json.loads(lamina("runtimes", "--json", server=server).stdout)
    (py312,) = [r for r in as_json if r["runtime"] == "python3.12"]
    assert py312["interpreter"] == interpreter


def test_deploy_infers_runtime_and_handler_from_the_directory(
    server: LaminaProcess, tmp_path: Path
) -> None:
    py = tmp_path / "py"
    py.mkdir()
    (py / "lambda_function.py").write_text("def lambda_handler(event, context):\n    return 'py'\n")
    created = lamina("deploy", str(py), "--name", "cli-infer-py", server=server)
    assert created.returncode == 0, created.stderr
    assert "inferred --runtime python3." in created.stderr
    assert "--handler lambda_function.lambda_handler from lambda_function.py" in created.stderr
    assert lamina("invoke", "cli-infer-py", server=server).stdout.strip() == '"py"'

    node = tmp_path / "node"
    node.mkdir()
    (node / "index.mjs").write_text("export const handler = async () => 'node';\n")
    created = lamina("deploy", str(node), "--name", "cli-infer-node", server=server)
    assert created.returncode == 0, created.stderr
    assert (
        "inferred --runtime nodejs" in created.stderr
        and "--handler index.handler" in created.stderr
    )
    assert lamina("invoke", "cli-infer-node", server=server).stdout.strip() == '"node"'


def test_deploy_says_exactly_what_to_pass_when_it_cannot_infer(
    server: LaminaProcess, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("no code here")
    failed = lamina("deploy", str(tmp_path), "--name", "cli-infer-none", server=server)
    assert failed.returncode == 2
    assert "cannot tell the runtime" in failed.stderr
    assert "--runtime python3.12 --handler app.handler" in failed.stderr
    listed = json.loads(lamina("ls", "--json", server=server).stdout)
    assert "cli-infer-none" not in [f["FunctionName"] for f in listed]


def test_a_second_server_on_the_same_data_directory_refuses_to_start(
    server: LaminaProcess,
) -> None:
    second = LaminaProcess(server.data_dir)
    with pytest.raises(RuntimeError) as info:
        second.start()
    output = str(info.value)
    assert "another Lamina server (pid " in output
    assert f"is using the data directory {server.data_dir}" in output
    assert "--data-dir" in output
    # The first one still serves.
    assert lamina("ls", server=server).returncode == 0
