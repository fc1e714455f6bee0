"""``lamina cost`` prices workflows beside functions, from the server's answer and from the
data directory's files: Standard executions by their state transitions, Express ones by
requests and GB-seconds (real server, real executions, exact dollars)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, aws_client, lamina_cli, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROLE = "arn:aws:iam::123456789012:role/sfn"
DOUBLE = """
def handler(event, context):
    return {"n": event["n"] * 2}
"""
# Pass, Task (a Lambda function), Succeed: three transitions per execution.
STANDARD = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Pass", "Next": "Double"},
        "Double": {"Type": "Task", "Resource": "FUNCTION", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
EXPRESS = {
    "StartAt": "A",
    "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("workflow-cost")).start()
    proc.create("double", python_zip(DOUBLE), runtime="python3.12", handler="app.handler")
    yield proc
    proc.stop()


def sfn(server: LaminaProcess) -> Any:
    return aws_client(
        server, "stepfunctions", "test", "test", inject_host_prefix=False, read_timeout=120
    )


def cost(*args: str) -> list[dict[str, Any]]:
    out = lamina_cli("cost", "--json", *args)
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def test_cost_prices_standard_transitions_and_express_gb_seconds(server: LaminaProcess) -> None:
    client = sfn(server)
    fn_arn = server.lambda_client().get_function(FunctionName="double")["Configuration"][
        "FunctionArn"
    ]
    definition = json.dumps(STANDARD).replace("FUNCTION", fn_arn)
    standard = client.create_state_machine(name="orders", definition=definition, roleArn=ROLE)
    express = client.create_state_machine(
        name="quotes", definition=json.dumps(EXPRESS), roleArn=ROLE, type="EXPRESS"
    )
    started = [
        client.start_execution(
            stateMachineArn=standard["stateMachineArn"], input=json.dumps({"n": i})
        )["executionArn"]
        for i in range(5)
    ]
    for arn in started:
        deadline = time.monotonic() + 120
        while (status := client.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == "SUCCEEDED"
    for _ in range(7):
        done = client.start_sync_execution(stateMachineArn=express["stateMachineArn"], input="{}")
        assert done["status"] == "SUCCEEDED"

    def workflows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["state_machine"]: r for r in rows if r.get("kind") == "workflow"}

    rows = cost("--endpoint", server.endpoint)
    assert any(r.get("function") == "double" for r in rows)  # functions still come first
    got = workflows(rows)
    orders, quotes = got["orders"], got["quotes"]
    # 5 executions x 3 transitions at $0.025 per 1,000 (no free tier per row).
    assert (orders["type"], orders["executions"], orders["transitions"]) == ("STANDARD", 5, 15)
    assert Decimal(orders["total_cost"]) == Decimal("0.000375")
    # 7 requests at $1.00 per million; each a few ms, billed as 100 ms at 64 MB:
    # 7 x 0.1 s x 0.0625 GB = 0.04375 GB-s at $0.00001667.
    assert (quotes["type"], quotes["executions"], quotes["billed_ms"]) == ("EXPRESS", 7, 700)
    assert Decimal(quotes["gb_s"]) == Decimal("0.04375")
    assert Decimal(quotes["request_cost"]) == Decimal("0.000007")
    assert Decimal(quotes["duration_cost"]) == Decimal("0.04375") * Decimal("0.00001667")
    assert Decimal(quotes["total_cost"]) == Decimal("0.000007") + Decimal("0.0000007293125")

    # The same figures from the data directory's files, with no server asked.
    assert workflows(cost("--data-dir", str(server.data_dir))) == got
    # One function asked for: no workflows.
    assert not workflows(cost("double", "--endpoint", server.endpoint))

    done = lamina_cli("cost", "--endpoint", server.endpoint, "--free-tier")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    lines = text.splitlines()
    assert any(line.startswith("== Workflows") for line in lines), text
    (row,) = [line for line in lines if line.split()[:2] == ["orders", "STANDARD"]]
    assert row.split()[2:4] == ["5", "15"]
    # 15 transitions are within the 4,000 free ones: only Express is left ($0.0000077293125).
    assert "workflows total: $0.000007729 (with the free tier)" in text
