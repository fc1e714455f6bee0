"""Step Functions Local's mock configuration on a real ``lamina serve``: executions started
on ``<arn>#<TestCase>`` answer the named Task states with mocked responses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import ConfigError
from lamina.services.stepfunctions.mocks import parse_mock_config
from tests.events.live import client
from tests.integration.harness import LaminaProcess, api_error

MOCKS = {
    "StateMachines": {
        "Order": {
            "TestCases": {
                "HappyPath": {"Charge": "ChargeOk"},
                "Flaky": {"Charge": "FailTwiceThenOk"},
                "Broken": {"Charge": "AlwaysFails"},
            }
        }
    },
    "MockedResponses": {
        "ChargeOk": {"0": {"Return": {"StatusCode": 200, "Payload": {"charged": 10}}}},
        "FailTwiceThenOk": {
            "0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "busy"}},
            "2": {"Return": {"StatusCode": 200, "Payload": {"charged": 20}}},
        },
        "AlwaysFails": {"0": {"Throw": {"Error": "CardDeclined", "Cause": "no funds"}}},
    },
}
ORDER = {
    "StartAt": "Charge",
    "States": {
        "Charge": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "not-deployed", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1,
                       "MaxAttempts": 3}],
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    base = tmp_path_factory.mktemp("sfn-mocks")
    config = base / "mocks.json"
    config.write_text(json.dumps(MOCKS))
    env = {"LAMINA_SFN_MOCK_CONFIG": str(config), "LAMINA_SCHEDULE_TIME_SCALE": "100"}
    proc = LaminaProcess(base / "data", env).start()
    yield proc
    proc.stop()


def run(server: LaminaProcess, target: str) -> tuple[dict[str, Any], list[str]]:
    sfn = client(server.endpoint, "stepfunctions")
    arn = sfn.start_execution(stateMachineArn=target)["executionArn"]
    deadline = time.monotonic() + 60
    while (out := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return out, [e["type"] for e in events]


def test_test_cases_answer_tasks_with_their_mocked_responses(server: LaminaProcess) -> None:
    sfn = client(server.endpoint, "stepfunctions")
    sm = sfn.create_state_machine(
        name="Order", definition=json.dumps(ORDER), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    out, _ = run(server, sm + "#HappyPath")
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"charged": 10}
    out, types = run(server, sm + "#Flaky")
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"charged": 20}
    assert types.count("TaskScheduled") == 3 and types.count("TaskFailed") == 2
    out, _ = run(server, sm + "#Broken")
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "CardDeclined", "no funds")
    out, _ = run(server, sm)  # no test case: the real (missing) function is called
    assert out["error"] == "Lambda.ResourceNotFoundException"
    code = api_error(lambda: sfn.start_execution(stateMachineArn=sm + "#Nope"))[0]
    assert code == "ValidationException"


def test_a_bad_mock_configuration_is_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown mocked response 'Missing'"):
        parse_mock_config({"StateMachines": {"M": {"TestCases": {"T": {"S": "Missing"}}}}})
    with pytest.raises(ConfigError, match="is not N or N-M"):
        parse_mock_config({"MockedResponses": {"R": {"x": {"Return": 1}}}})
    with pytest.raises(ConfigError, match="needs Return or Throw"):
        parse_mock_config({"MockedResponses": {"R": {"0": {}}}})
